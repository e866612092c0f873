// Vitrage templates shared by the integration tests: with the collector's
// synthetic cloud (whose change generator raises and clears zabbix host
// alarms "alarm-N") they make the evaluator act on almost every change.
#ifndef VITRAGE_INTEGRATION_TESTS_TEST_TEMPLATES_H_
#define VITRAGE_INTEGRATION_TESTS_TEST_TEMPLATES_H_

namespace vitrage::testing {

// Version 3: a host alarm raises a deduced alarm on each of the host's
// instances and sets their state; the host is set to ERROR and marked down.
inline constexpr char kV3[] = R"(metadata:
  version: 3
  name: host_alarm_affects_instances
  type: standard
entities:
  host_alarm:
    category: ALARM
    type: zabbix
    name.regex: alarm-.*
  host:
    type: nova.host
  instance:
    type: nova.instance
scenarios:
  - condition: host_alarm [on] host AND host [contains] instance
    actions:
      - raise_alarm:
          target: instance
          alarm_name: instance at risk
          severity: warning
          causing_alarm: host_alarm
      - set_state:
          target: instance
          state: SUBOPTIMAL
  - condition: host_alarm [on] host
    actions:
      - set_state:
          target: host
          state: ERROR
      - mark_down:
          target: host
)";

}  // namespace vitrage::testing

#endif  // VITRAGE_INTEGRATION_TESTS_TEST_TEMPLATES_H_
