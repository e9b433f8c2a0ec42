// `ddlgate keygen --out PREFIX`: an Ed25519 key pair for signing bundles.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "commands.h"
#include "ddlgate/base/base64.h"
#include "ddlgate/base/ed25519.h"

namespace ddlgate::cli {
namespace {

// Creates path exclusively with `mode` from the start: a private key must never exist,
// even for a moment, with wider permissions, and an existing key is never overwritten.
bool write_new_file(const std::string& path, const std::string& text, mode_t mode, std::string* why) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    *why = path + ": " + (errno == EEXIST ? std::string("already exists; refusing to overwrite") : std::strerror(errno));
    return false;
  }
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *why = path + ": write failed: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    *why = path + ": write failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

int run_keygen(const std::string& prefix, const std::string& use_name) {
  std::optional<base::KeyUse> use;
  if (!use_name.empty()) {
    use = base::key_use_from_string(use_name);
    if (!use) {
      std::fprintf(stderr, "ddlgate keygen: --use: '%s' is not registry, approver, break-glass or ledger\n",
                   use_name.c_str());
      return kExitUsage;
    }
  }
  std::string key_path = prefix + ".key";
  std::string pub_path = prefix + ".pub";
  if (::access(pub_path.c_str(), F_OK) == 0) {
    std::fprintf(stderr, "ddlgate keygen: %s: already exists; refusing to overwrite\n", pub_path.c_str());
    return kExitUsage;
  }
  auto key = base::SigningKey::generate();
  if (!key) {
    std::fprintf(stderr, "ddlgate keygen: OpenSSL could not generate an Ed25519 key\n");
    return kExitUsage;
  }
  std::string why;
  if (!write_new_file(key_path, key->private_pem(), 0600, &why)) {
    std::fprintf(stderr, "ddlgate keygen: %s\n", why.c_str());
    return kExitUsage;
  }
  // The use goes on a line before the PEM block (RFC 7468 section 2 lets text precede
  // it; OpenSSL skips it): ddlgate checks it wherever the file is listed.
  std::string pub_text = use ? "ddlgate-key-use: " + std::string(base::to_string(*use)) + "\n" : std::string();
  pub_text += key->public_pem();
  if (!write_new_file(pub_path, pub_text, 0644, &why)) {
    std::fprintf(stderr, "ddlgate keygen: %s\n", why.c_str());
    return kExitUsage;
  }
  const auto& pk = key->public_key();
  std::printf("%s\n", base::key_id(pk).c_str());
  std::printf("private key: %s (mode 0600)\npublic key:  %s\npublic key (base64, for a trust policy): %s\n",
              key_path.c_str(), pub_path.c_str(),
              base::base64_encode(std::string_view(reinterpret_cast<const char*>(pk.data()), pk.size())).c_str());
  return kExitOk;
}

}  // namespace

void add_keygen(CLI::App& app, Runner& runner) {
  auto* cmd = app.add_subcommand("keygen", "generate an Ed25519 key pair: PREFIX.key (0600) and PREFIX.pub");
  auto prefix = std::make_shared<std::string>();
  auto use = std::make_shared<std::string>();
  cmd->add_option("--out", *prefix, "path prefix of the two files")->required();
  cmd->add_option("--use", *use, "registry|approver|break-glass|ledger: written into PREFIX.pub and checked where it is listed");
  cmd->callback([&runner, prefix, use] { runner = [prefix, use] { return run_keygen(*prefix, *use); }; });
}

}  // namespace ddlgate::cli
