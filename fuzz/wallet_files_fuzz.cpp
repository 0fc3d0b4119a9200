// The files a wallet reads from another wallet in the offline flow, from their text as
// `wallet send`, `accept` and `confirm` read them (protocol::parse_limited, then the wallet's
// entry point): the receiver's request (Wallet::send), the sealed transfer (Wallet::accept) and
// the acknowledgement (Wallet::confirm). Alice sends to Bob, both enrolled in a whole system.
//
// An input is a byte picking what it is, then the text:
//   0  a request file, given to Alice's send
//   1  a transfer file, given to Bob's accept
//   2  the inside of a transfer, sealed to Bob by the harness (anyone can seal to a device: its
//      sealing key is in its certificate) and given to Bob's accept
//   3  the inside of a transfer whose "transfer" statement the harness signs again with Alice's
//      key (a sender may sign whatever it likes), sealed to Bob and given to his accept
//   4  an acknowledgement file, given to Alice's confirm
//   5  a request file whose "request" statement the harness signs again with Bob's key, given to
//      Alice's send
// Modes 2, 3 and 5 take the fuzzer past the seal and the signatures into the checks behind them.
// Only the entry points and the statements' generic reader are named here, so the target keeps
// building when the statements gain fields. Seeds: fuzz/corpus/wallet_files_fuzz, remade with
//   ECASH_FUZZ_SEEDS=fuzz/corpus/wallet_files_fuzz build-fuzz/fuzz/wallet_files_fuzz -runs=0
//
// Besides crashes, sanitizer reports and escaping exceptions, an answer of internal or io_error
// is a finding (the stores are healthy).
#include <nlohmann/json.hpp>

#include <cstdint>

#include "crypto/keys.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/statements.hpp"
#include "system.hpp"

namespace {

using namespace ecash;
using protocol::Json;

enum Mode : std::uint8_t { request, transfer, sealed_inner, signed_inner, ack, signed_request, count };

// Built afresh this often: transfers accepted and requests answered meanwhile are forgotten.
constexpr std::uint64_t kRebuildEvery = 20'000;

fuzz::System* g_system = nullptr;

// A statement in j[field] signed again with key, when it reads as one.
template <class T>
void sign_again(Json& j, const char* field, const crypto::SigningKey& key) {
  if (!j.is_object() || !j.contains(field)) return;
  auto read = protocol::Signed<T>::from_json(j[field]);
  if (!read) return;
  j[field] = protocol::sign(key, std::move(read->body)).to_json();
}

// The envelope `wallet send` prints, around inner sealed to Bob.
Json sealed_to_bob(const std::string& inner) {
  const auto& bob = *g_system->bob().certificate();
  return Json{{"to", bob.serial()},
              {"sealed_transfer", protocol::to_text(crypto::seal(bob.sealing_key(), as_bytes(inner)))}};
}

// The inside of an envelope sealed to Bob.
std::string opened(const std::string& envelope) {
  const auto sealed = protocol::FieldReader(Json::parse(envelope), "envelope").bytes("sealed_transfer");
  auto plain = g_system->bob().keys().sealing.open(sealed);
  if (!plain) fuzz::die("open the seed transfer", plain.error());
  return std::string(as_text(*plain));
}

// The outcome of a step whose answer the command line prints as JSON.
Status printed(const Result<Json>& answer) {
  if (!answer) return std::unexpected(answer.error());
  (void)answer->dump();
  return {};
}

std::vector<std::pair<std::string, std::string>> seeds() {
  const auto& f = g_system->files();
  const auto with = [](Mode m, const std::string& text) { return static_cast<char>(m) + text; };
  return {{"request-answered", with(request, f.request)},
          {"request-open", with(request, f.open_request)},
          {"request-resigned", with(signed_request, f.open_request)},
          {"transfer-accepted", with(transfer, f.transfer)},
          {"transfer-open", with(transfer, f.open_transfer)},
          {"inner-accepted", with(sealed_inner, opened(f.transfer))},
          {"inner-open", with(sealed_inner, opened(f.open_transfer))},
          {"inner-resigned", with(signed_inner, opened(f.open_transfer))},
          {"ack", with(ack, f.ack)}};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_system = new fuzz::System("wallet-files");
  g_system->write_seeds(seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  g_system->count_input(kRebuildEvery);
  const auto mode = static_cast<Mode>(data[0] % Mode::count);
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  // As the command line reads a file: parse_limited, refused when it is no JSON.
  Json j = protocol::parse_limited(text);
  if (j.is_discarded()) return 0;
  Status done;
  switch (mode) {
    case signed_request:
      sign_again<protocol::TransferRequest>(j, "request", g_system->bob().keys().signing);
      [[fallthrough]];
    case request:
      done = printed(g_system->alice().send(j));
      break;
    case signed_inner:
      sign_again<protocol::Transfer>(j, "transfer", g_system->alice().keys().signing);
      [[fallthrough]];
    case sealed_inner:
      j = sealed_to_bob(j.dump());
      [[fallthrough]];
    case transfer:
      done = printed(g_system->bob().accept(j));
      break;
    case ack:
      done = g_system->alice().confirm(j);
      break;
    case count:
      break;
  }
  if (!done && (done.error().code == ErrorCode::internal || done.error().code == ErrorCode::io_error)) {
    fuzz::die("wallet file", done.error());
  }
  return 0;
}
