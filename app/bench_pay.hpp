// `ecash bench pay`: the load generator. It starts an operator and shop tills as real processes on
// loopback with durable stores, enrols wallets in its own process (each with its own keys and
// certificate, over the real enrolment; state in memory), deposits for them, runs payments, and
// reports throughput, latency, CPU per payment by process, and the floor the cryptography allows.
#pragma once

#include <optional>
#include <string>

namespace ecash::app {

struct BenchOptions {
  int wallets = 64;
  long payments = 20000;
  int concurrency = 32;
  double rate = 0;                // payments per second (open loop); 0: closed loop
  std::string handshake = "kept";  // kept | full
  int shops = 1;
  long users = 0;                  // extra registered users with balances put in first
  std::string roles = "together";  // together | apart (one process per operator role)
  int nodes = 1;                   // center and bank nodes (more than 1: apart, behind HAProxy)
  std::string amount = "1.00";
  int idle = 0;                    // idle TLS connections held to the operator meanwhile
  std::string idle_from = "127.0.0.2";
  std::string json;                // write the results here too
  std::optional<std::string> keep;  // keep every party's files in this folder
  std::string store;                // the operator's stores on this PostgreSQL database
  std::string answered;             // append each answered payment here: order ID, when (ms)
};

int run_bench_pay(const BenchOptions& options);

}  // namespace ecash::app
