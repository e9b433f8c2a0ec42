// Checkpoint witnesses (docs/ledger.md, "Witness cosignatures"; docs/operations.md, "Witnesses"):
//  - C2SP tlog-cosignature: the Ed25519 cosignature/v1 signed message, its key id (type 0x04)
//    and its "timestamped_signature" (8-byte big-endian time || 64-byte signature)
//    (https://c2sp.org/tlog-cosignature);
//  - C2SP signed-note verifier keys ("vkeys": name+hex key id+base64(type || key))
//    (https://c2sp.org/signed-note);
//  - C2SP tlog-witness add-checkpoint: the request body, and a witness's decision on it as a
//    pure function of the request, the log's key and the witness's state (https://c2sp.org/tlog-witness);
//  - the cosignatures file beside the checkpoints file, and RFC 6962 consistency proofs made
//    from a ledger directory (a streaming pass over its segments).
// No I/O here except reading a ledger directory and the witness's state directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/merkle.h"

namespace ddlgate::ledger {

// The file beside "checkpoints" that keeps the witnesses' cosignatures (checkpoint notes whose
// signature lines are the log's own and the cosignatures, appended one note at a time).
inline constexpr const char* kCosignaturesFileName = "cosignatures";
// signed-note signature types (https://c2sp.org/signed-note, "Signature types").
inline constexpr std::uint8_t kSigTypeEd25519Note = 0x01;
inline constexpr std::uint8_t kSigTypeCosignatureV1 = 0x04;
// tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
inline constexpr std::size_t kMaxProofLines = 63;
// An add-checkpoint body larger than this is refused before it is parsed: 63 proof lines and a
// checkpoint note (capped at 64 KiB by parse_checkpoint) fit well below it.
inline constexpr std::size_t kMaxAddCheckpointBody = 80 * 1024;

// A name and an Ed25519 public key of one signature type, as a C2SP vkey names them.
struct VerifierKey {
  std::string name;
  std::uint8_t type = 0;
  PublicKey key{};
};

// Parses "<name>+<8 hex digits of key id>+<base64(type || 32-byte key)>"; the key id must be
// the one the name, type and key give. Only Ed25519 types (0x01, 0x04) are accepted.
Result<VerifierKey> parse_vkey(std::string_view vkey);
// The vkey text of k.
std::string format_vkey(const VerifierKey& k);
// SHA-256(name || 0x0A || type || key)[:4].
KeyId vkey_key_id(std::string_view name, std::uint8_t type, const PublicKey& key);

// The cosignature/v1 signed message: "cosignature/v1\ntime <t>\n" followed by the checkpoint
// body (with its final newline).
std::string cosignature_message(std::string_view checkpoint_body, std::uint64_t timestamp);

// A witness's signing key (Ed25519, PEM PKCS#8) and name.
class Cosigner {
 public:
  static Result<Cosigner> load_pem(const std::filesystem::path& file, std::string name);
  // The signature line (without newline) cosigning checkpoint_body at timestamp; empty on failure.
  std::string cosign(std::string_view checkpoint_body, std::uint64_t timestamp) const;
  // This cosigner's vkey (type 0x04).
  VerifierKey verifier_key() const { return {name_, kSigTypeCosignatureV1, public_key_}; }
  const std::string& name() const { return name_; }

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY*
  PublicKey public_key_{};
  std::string name_;
};

// The timestamp of a valid cosignature by key over checkpoint_body in one signature line, or
// nullopt (another name or key id, malformed, a bad signature, a timestamp above 2^63-1).
std::optional<std::uint64_t> verify_cosignature(const VerifierKey& key, std::string_view checkpoint_body,
                                                std::string_view sig_line);

// How many distinct keys of `keys` cosigned cp (each key counts once, whatever its lines).
std::size_t count_cosigners(const Checkpoint& cp, const std::vector<VerifierKey>& keys);

// --- the cosignatures file --------------------------------------------------------------------

// Reads a cosignatures file (a missing file has none). A torn last note, as a crash while
// appending leaves it, is left out and *valid_bytes says where it starts; other damage is an error.
Result<std::vector<Checkpoint>> read_cosignatures(const std::filesystem::path& file, std::uint64_t* valid_bytes = nullptr);
// The note of cp with lines added after its own signature lines.
std::string with_signature_lines(const Checkpoint& cp, const std::vector<std::string>& lines);
// How many distinct keys of `keys` cosigned target, over every note of `cosigned` whose body is
// target's (a witness's lines may sit in separate notes).
std::size_t count_cosigners(const Checkpoint& target, const std::vector<Checkpoint>& cosigned,
                            const std::vector<VerifierKey>& keys);

// How many of `keys` cosigned the latest checkpoint of the ledger directory dir, as the
// cosignatures file (empty: dir/cosignatures) holds them: for `ledger verify --witness-quorum`.
struct LatestCosigned {
  std::uint64_t tree_size = 0;
  std::size_t cosigners = 0;
  std::filesystem::path file;  // the cosignatures file read
};
Result<LatestCosigned> latest_cosigned(const std::filesystem::path& dir, const std::filesystem::path& cosignatures,
                                       const std::vector<VerifierKey>& keys);

// --- tlog-witness add-checkpoint -------------------------------------------------------------

struct AddCheckpointRequest {
  std::uint64_t old_size = 0;
  std::vector<Hash> proof;
  Checkpoint checkpoint;
};

// Parses a request body: "old <size>\n", up to 63 base64 hash lines, an empty line, a
// checkpoint note. Every line must end in a newline; sizes are canonical decimals.
Result<AddCheckpointRequest> parse_add_checkpoint(std::string_view body);
// The request body for note (a complete checkpoint note) with old_size and proof.
std::string format_add_checkpoint(std::uint64_t old_size, const std::vector<Hash>& proof, std::string_view note);
// Parses a 409 body ("<size>\n", Content-Type text/x.tlog.size).
std::optional<std::uint64_t> parse_size_body(std::string_view body);

// What a witness knows of one log: the latest checkpoint it cosigned.
struct WitnessedTree {
  std::uint64_t size = 0;
  Hash root{};
};

// A witness's answer to one add-checkpoint request.
struct WitnessReply {
  int status = 500;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::optional<WitnessedTree> new_state;  // set on 200: what must be persisted before replying
};

// The witness's decision, following tlog-witness in its order of checks: unknown origin 404,
// no valid log signature 403, old size above the checkpoint's 400, old size not the witness's
// size 409 (body: its size), equal sizes with another root 409, proof fails 422, else 200 with
// the cosignature line. log_key is the key the witness trusts for the checkpoint's origin
// (nullptr: unknown origin); current is the witness's state for that origin (nullopt: never cosigned).
WitnessReply decide_add_checkpoint(const AddCheckpointRequest& req, const NoteVerifier* log_key,
                                   const std::optional<WitnessedTree>& current, const Cosigner& cosigner,
                                   std::uint64_t now);

// A witness's state directory: one file per origin ("<hex SHA-256 of origin>.tree", holding
// "<origin>\n<size>\n<base64 root>\n"), replaced atomically (temp file, fsync, rename, fsync dir).
class WitnessState {
 public:
  // Loads every state file of dir (created if absent); a malformed file is an error.
  static Result<WitnessState> open(const std::filesystem::path& dir);
  std::optional<WitnessedTree> get(const std::string& origin) const;
  // Persists the new tree for origin, then keeps it in memory; on error nothing changes.
  Status put(const std::string& origin, const WitnessedTree& tree);

 private:
  std::filesystem::path dir_;
  std::map<std::string, WitnessedTree> trees_;
};

// --- consistency proofs from a ledger directory ---------------------------------------------

// The leaf ranges [begin, end) whose subtree hashes make PROOF(m, D[0:n]) of RFC 6962
// section 2.1.2, in proof order; empty when m == 0 or m >= n. Requires m <= n.
std::vector<std::pair<std::uint64_t, std::uint64_t>> consistency_proof_ranges(std::uint64_t m, std::uint64_t n);

// The consistency proof from m to n over the records of the ledger directory dir, and the
// root of its first n records (which the caller compares with the checkpoint it pushes).
// One streaming pass over the segments, O(log n) memory. Fails when dir holds fewer than n.
struct LedgerProof {
  std::vector<Hash> proof;
  Hash root_n{};
};
Result<LedgerProof> consistency_proof_from_ledger(const std::filesystem::path& dir, std::uint64_t m, std::uint64_t n);

// The same proofs for a client that makes one per checkpoint: the hash of every complete chunk of
// 2^chunk_bits records is kept (32 bytes per chunk) and extended as the ledger grows, so that a
// proof reads only the records added since the last call and the segment that holds the chunk of
// each of its two sizes, not the whole ledger. Every range of an RFC 6962 proof is a complete
// aligned subtree or ends at n, so it is either made of whole chunks or lies inside one chunk.
// The directory must only grow while this object lives (the ledger's own process: its LOCK).
class LedgerProofSource {
 public:
  explicit LedgerProofSource(std::filesystem::path dir, unsigned chunk_bits = 10);
  Result<LedgerProof> prove(std::uint64_t m, std::uint64_t n);
  std::uint64_t records_read() const { return records_read_; }  // records hashed so far

 private:
  Status extend(std::uint64_t n);
  Result<std::vector<Hash>> chunk_leaves(std::uint64_t chunk, std::uint64_t n);
  Result<Hash> subtree(std::uint64_t begin, std::uint64_t end, std::uint64_t n);

  std::filesystem::path dir_;
  std::uint64_t chunk_size_;
  std::vector<Hash> chunks_;  // chunks_[i]: MTH of records [i*C, (i+1)*C)
  std::map<std::uint64_t, std::vector<Hash>> leaves_;  // leaves of the chunks one prove() reads
  std::uint64_t records_read_ = 0;
};

}  // namespace ddlgate::ledger
