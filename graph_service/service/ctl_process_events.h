// `vitrage-ctl process-events EVENTS.jsonl --values DIR`: processes an event
// file under the conformance corpus's rules (ids and clock as in
// testdata/conformance/README.md, state mappings from DIR) with our
// processor, offline, and prints the resulting graph in the workload layout
// (raw ids kept). The differential harness (integration_tests/differential/)
// runs upstream's side against it; anyone can check a scenario of their own.
//
//   --id-map FILE   upstream's id -> natural key (a meta.json with `id_map`,
//                   or a JSON object): consistency events' raw vitrage_id
//                   then name our vertex of the same canonical name
//   --mints FILE    write every id minted, in order: {"id":..,"key":..}
//   --canonical     print the canonical form instead of raw ids
//   --digest        print only the digest of what would be printed
#ifndef VITRAGE_GRAPH_SERVICE_SERVICE_CTL_PROCESS_EVENTS_H_
#define VITRAGE_GRAPH_SERVICE_SERVICE_CTL_PROCESS_EVENTS_H_

#include <CLI/CLI.hpp>
#include <string>

namespace vitrage::ctl {

class ProcessEventsCommand {
 public:
  // Adds the subcommand to `app`.
  explicit ProcessEventsCommand(CLI::App* app);
  bool parsed() const { return cmd_->parsed(); }
  // Exit code: 0, 1 when an event fails, 2 on bad input files.
  int Run() const;

 private:
  CLI::App* cmd_;
  std::string events_, values_, id_map_, mints_;
  bool canonical_ = false, digest_ = false;
};

}  // namespace vitrage::ctl

#endif  // VITRAGE_GRAPH_SERVICE_SERVICE_CTL_PROCESS_EVENTS_H_
