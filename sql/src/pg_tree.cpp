#include "pg_tree.h"

#include <vector>

namespace ddlgate::sql::detail {
namespace {

// Reads a base-128 varint (https://protobuf.dev/programming-guides/encoding/#varints).
bool read_varint(const std::uint8_t* data, std::size_t end, std::size_t* pos, std::uint64_t* out) {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= end) return false;
    std::uint8_t byte = data[(*pos)++];
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *out = value;
      return true;
    }
  }
  return false;
}

}  // namespace

bool protobuf_depth_within(const std::uint8_t* data, std::size_t len, const ProtobufCMessageDescriptor* desc,
                           int max_depth) {
  struct Frame {
    std::size_t end;
    const ProtobufCMessageDescriptor* desc;
  };
  std::vector<Frame> stack;
  stack.reserve(64);
  stack.push_back({len, desc});
  std::size_t pos = 0;
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (pos == top.end) {
      stack.pop_back();
      continue;
    }
    std::uint64_t tag = 0;
    if (!read_varint(data, top.end, &pos, &tag)) return false;
    std::uint64_t skip = 0;
    switch (tag & 7) {
      case 0:  // varint
        if (!read_varint(data, top.end, &pos, &skip)) return false;
        continue;
      case 1:  // 64-bit
        skip = 8;
        break;
      case 5:  // 32-bit
        skip = 4;
        break;
      case 2: {  // length-delimited: a message, a string, bytes or a packed array
        if (!read_varint(data, top.end, &pos, &skip)) return false;
        if (skip > top.end - pos) return false;
        const ProtobufCFieldDescriptor* field =
            protobuf_c_message_descriptor_get_field(top.desc, static_cast<unsigned>(tag >> 3));
        if (field != nullptr && field->type == PROTOBUF_C_TYPE_MESSAGE) {
          if (static_cast<int>(stack.size()) >= max_depth) return false;
          stack.push_back({pos + skip, static_cast<const ProtobufCMessageDescriptor*>(field->descriptor)});
          continue;
        }
        break;
      }
      default:
        return false;
    }
    if (skip > top.end - pos) return false;
    pos += skip;
  }
  return pos == len;
}

}  // namespace ddlgate::sql::detail
