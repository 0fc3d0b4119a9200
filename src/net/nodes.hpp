// The long-running processes: an operator (every role in one process, or one role per process
// talking to the others over mutual TLS), the institution sandboxes, and a shop's wallet-facing
// server. Each listens, writes the URL it listens on to <folder>/listening (ports may be chosen by
// the OS), keeps its CRL current, and serves until SIGINT or SIGTERM.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/amount.hpp"
#include "net/net.hpp"

namespace ecash::net {

struct NodeOptions {
  // The operator's data folder (run_operator, run_sandbox) or the shop's home (run_shop).
  std::string data;
  std::string role = "all";  // all | ca | center | bank | clearing | admin
  // One of several processes of the role (center or bank), all on the same PostgreSQL stores: its
  // lock and address under DATA/ROLE/nodes/NODE, and its name in the center's saga leases.
  std::string node;
  // HOST:PORT; empty for the default: 127.0.0.1:8443 for the operator's front door (all, center),
  // 127.0.0.1:0 (the OS picks) for the rest.
  std::string listen;
  // How often the CRL is fetched again, and how long the center waits for its peers to be up.
  std::chrono::seconds crl_refresh{60};
  std::chrono::seconds peer_wait{30};
  // A charged deposit not credited within this long has its charge reversed.
  std::chrono::seconds credit_deadline{24 * 3600};
  // Override DATA/operator.json's institution URLs (both or neither).
  std::string card_company_url;
  std::string bank_url;
  // Threads of the servers this process runs: I/O (0: one per core) and request workers
  // (0: 16 per core).
  int io_threads = 0;
  int workers = 0;
  // Enrolments (ca/enrol) one source address may make a minute on the front door (0: no limit).
  int enrol_per_minute = 10;
  // Requests a minute one source address may make, without a certificate, to the open routes that
  // only read: the CA's trust and the center's directory (0: no limit).
  int open_per_minute = 60;
  // The load balancers in front of the servers devices reach (Limits::proxy_from).
  std::vector<std::string> proxy_from;
  std::function<void(const std::string&)> say = [](const std::string&) {};
  // run_shop: HOST:PORT of the checkout pages (plain HTTP, no certificate asked); empty for
  // 127.0.0.1 and a port the OS picks, "off" for none.
  std::string checkout;
  // run_shop: the checkout pages over HTTPS with this certificate (PEM, its chain) and key.
  std::string checkout_certificate, checkout_key;
  // run_shop: the shop's own web servers in front of the checkout pages (PageLimits::proxies).
  std::vector<std::string> checkout_proxies;
  // run_shop: HOST:PORT of the merchant API (HTTPS, the shop's token); empty for 127.0.0.1 and a
  // port the OS picks, "off" for none.
  std::string api;
  // HOST:PORT of /metrics (Prometheus text format, plain HTTP: keep it on loopback or a private
  // network); empty for 127.0.0.1 and a port the OS picks (its URL in FOLDER/metrics), "off" for
  // none.
  std::string metrics;
  // The operator's dashboard (--role admin, and the all-in-one operator): HOST:PORT of its page
  // (plain HTTP: keep it on loopback or a private network); empty for 127.0.0.1 and a port the OS
  // picks (its URL in DATA/admin/dashboard, or DATA/center/dashboard all-in-one), "off" for none.
  std::string dashboard;
  // The access log, one JSON line per request: "stderr" (the default), a file (appended), "off".
  std::string access_log = "stderr";
};

Status run_operator(const NodeOptions& options);
Status run_sandbox(const NodeOptions& options);
Status run_shop(const NodeOptions& options);

// DATA/operator.json: the operator's currency and, when the institutions are outside this
// operator's processes, their URLs.
struct OperatorSettings {
  Currency currency;
  std::string card_company_url;
  std::string bank_url;
  // The PostgreSQL database the roles' stores are in (operator init --store); empty: SQLite files.
  std::string store;
};
Result<OperatorSettings> read_operator_settings(const std::string& data);
Status write_operator_settings(const std::string& data, const OperatorSettings& settings);

// Writes the operator's latest CRL to DATA/ca/crl.pem: the distribution point the sandboxes read.
Status publish_crl(const std::string& data, const pki::Crl& crl);
// The CA certificate and latest published CRL of the operator at DATA.
Result<pki::TrustAnchor> read_trust(const std::string& data);

// The URL a process wrote to folder/listening, waiting up to `wait` for it to appear.
Result<std::string> listening_url(const std::string& folder, std::chrono::seconds wait);
// Where a role's processes listen now: ROLE_FOLDER/listening (the role run once) and
// ROLE_FOLDER/nodes/NAME/listening for each of its nodes (operator run --node NAME).
std::vector<std::string> listening_urls(const std::string& role_folder);
// The folder of a role's process: the role's own, or its node's under it (made when missing).
Result<std::string> node_folder(const std::string& role_folder, const std::string& node);

// A device's (wallet's or shop's) TLS identity: its key file and certificate.
Result<TlsIdentity> device_identity(const std::string& key_file, const pki::Certificate& cert);

}  // namespace ecash::net
