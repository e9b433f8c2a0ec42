#include "ddlgate/ledger/segments.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace ddlgate::ledger {
namespace {

constexpr std::string_view kPrefix = "segment-";
constexpr std::string_view kSuffix = ".log";

std::int64_t off(std::uint64_t v) { return static_cast<std::int64_t>(v); }

}  // namespace

std::string segment_name(std::uint64_t first_seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "segment-%020llu.log", static_cast<unsigned long long>(first_seq));
  return buf;
}

Result<std::vector<SegmentFile>> list_segments(const std::filesystem::path& dir) {
  std::vector<SegmentFile> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Error{"cannot list the ledger directory", dir.string(), -1, ec};
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    std::string_view digits(name);
    digits.remove_prefix(kPrefix.size());
    std::uint64_t seq = 0;
    bool ok = digits.size() == 20 + kSuffix.size() && digits.substr(20) == kSuffix;
    if (ok) {
      auto [p, e] = std::from_chars(digits.data(), digits.data() + 20, seq);
      ok = e == std::errc() && p == digits.data() + 20;
    }
    if (!ok) return Error{"file named like a segment but not segment-<20 digits>.log", entry.path().string()};
    out.push_back({entry.path(), seq});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first_seq < b.first_seq; });
  return out;
}

ScanOutcome scan_segments(FileSystem& fs, const std::filesystem::path& dir, const RecordSink& sink,
                          std::uint64_t start_seq, const BatchSink& batch_sink) {
  ScanOutcome result;
  auto segs = list_segments(dir);
  if (!segs) {
    result.damage = segs.error();
    return result;
  }
  result.segments = std::move(*segs);
  std::size_t first = 0;
  while (first + 1 < result.segments.size() && result.segments[first + 1].first_seq <= start_seq) ++first;
  std::uint64_t expected = result.segments.empty() ? 0 : (start_seq > 0 ? result.segments[first].first_seq : 0);
  result.next_seq = expected;
  std::string data;
  for (std::size_t si = first; si < result.segments.size(); ++si) {
    const auto& seg = result.segments[si];
    const bool last = si + 1 == result.segments.size();
    const std::string file = seg.path.string();
    if (seg.first_seq != expected) {
      result.damage = Error{"segment starts at sequence " + std::to_string(seg.first_seq) + " but " +
                                std::to_string(expected) + " was expected (" +
                                (seg.first_seq > expected ? "records missing" : "records duplicated") + ")",
                            file, 0};
      return result;
    }
    if (auto ec = fs.read_file(seg.path, kMaxSegmentReadSize, &data)) {
      result.damage = Error{"cannot read segment", file, -1, ec};
      return result;
    }
    std::string_view view(data);
    std::uint64_t pos = 0;
    std::uint64_t batch_end_pos = 0;   // end of the last batch-end frame in this segment
    std::uint64_t batch_end_seq = expected;
    std::uint64_t frames_since_batch_end = 0;
    std::optional<std::pair<std::uint64_t, std::string>> bad;  // offset, reason
    // Committed frames are handed over only once their batch is known to be complete.
    std::vector<ScannedRecord> pending;
    while (pos < view.size()) {
      FrameView f;
      FrameStatus st = decode_frame(view.substr(pos), f);
      if (st != FrameStatus::ok) {
        bad.emplace(pos, to_string(st));
        break;
      }
      std::uint64_t want = batch_end_seq + frames_since_batch_end;
      if (f.seq != want) {
        result.damage = Error{"frame has sequence " + std::to_string(f.seq) + " where " + std::to_string(want) +
                                  " was expected (record " + (f.seq < want ? "duplicated or reordered" : "missing") +
                                  ")",
                              file, off(pos)};
        return result;
      }
      if (f.seal && !f.batch_end) {
        // The writer puts a seal only at the end of a batch (docs/ledger.md, "Batch seals").
        result.damage = Error{"batch seal without the batch end flag", file, off(pos)};
        return result;
      }
      const std::uint64_t frame_pos = pos;
      if (!f.seal) {
        pending.push_back({f.seq, f.payload, &seg.path, pos});
        ++frames_since_batch_end;
      }
      pos += f.size;
      if (f.batch_end) {
        for (const auto& r : pending) {
          if (auto err = sink(r)) {
            if (err->file.empty()) err->file = file;
            if (err->offset < 0) err->offset = off(r.offset);
            result.damage = std::move(*err);
            return result;
          }
          ++result.records;
        }
        pending.clear();
        batch_end_pos = pos;
        batch_end_seq = want + (f.seal ? 0 : 1);
        frames_since_batch_end = 0;
        if (batch_sink) {
          ScannedBatch b{batch_end_seq, f.seal ? std::optional<std::string_view>(f.payload) : std::nullopt, &seg.path,
                         frame_pos};
          if (auto err = batch_sink(b)) {
            if (err->file.empty()) err->file = file;
            if (err->offset < 0) err->offset = off(frame_pos);
            result.damage = std::move(*err);
            return result;
          }
        }
      }
    }
    expected = batch_end_seq;
    result.next_seq = expected;
    if (!last) {
      // Segments roll only between batches, so anything after the last batch end of an older
      // segment is damage, never a torn write.
      if (bad) {
        result.damage = Error{bad->second, file, off(bad->first)};
      } else if (batch_end_pos != view.size()) {
        result.damage = Error{"segment ends inside a batch (its last frame is not a batch end)", file,
                              off(batch_end_pos)};
      }
      if (result.damage) return result;
      continue;
    }
    if (batch_end_pos == view.size()) break;  // clean end
    Tail tail;
    tail.file = seg.path;
    tail.offset = batch_end_pos;
    tail.bytes = view.size() - batch_end_pos;
    tail.frames = frames_since_batch_end;
    if (bad) {
      tail.damaged = true;
      tail.reason = bad->second + " at offset " + std::to_string(bad->first);
      if (tail.bytes > kMaxTornTail) {
        result.damage = Error{bad->second + " " + std::to_string(tail.bytes) +
                                  " bytes before the end of the ledger, more than one batch can leave torn",
                              file, off(bad->first)};
        return result;
      }
      // A torn write leaves at most one (unfinished) batch. Look for valid frames after the
      // damage: a batch end followed by another valid frame means a later batch was written
      // after this one, i.e. the damaged batch had been made durable.
      bool seen_batch_end = false;
      for (std::uint64_t p = bad->first + 1; p + kFrameHeaderSize <= view.size(); ++p) {
        if (std::memcmp(view.data() + p, kFrameMagic, 4) != 0 && std::memcmp(view.data() + p, kSealMagic, 4) != 0) {
          continue;
        }
        FrameView f;
        if (decode_frame(view.substr(p), f) != FrameStatus::ok) continue;
        if (seen_batch_end || f.seq < batch_end_seq) {
          result.damage = Error{bad->second + " inside a durable batch (valid frames of a later batch follow)", file,
                                off(bad->first)};
          return result;
        }
        if (f.batch_end) seen_batch_end = true;
        p += f.size - 1;
      }
    } else {
      tail.reason = std::to_string(tail.frames) + " frame(s) of a batch without its batch end";
    }
    result.tail = std::move(tail);
  }
  return result;
}

}  // namespace ddlgate::ledger
