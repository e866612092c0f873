// Byte pump of the test TCP forwarders (integration_tests/standby_test.cc's
// Forwarder and the vitrage-test-vip tool): stand-ins for a virtual IP.
#ifndef VITRAGE_COMMON_TESTING_TCP_PIPE_H_
#define VITRAGE_COMMON_TESTING_TCP_PIPE_H_

#include <atomic>

namespace vitrage::testing {

// Copies bytes both ways between the connected sockets a and b until one
// side closes or fails, or another thread shutdown(2)s either of them (how
// a forwarder cuts its connections), or *stop becomes true (checked at
// least every 200 ms when given). Leaves both sockets open: the caller
// owns and closes them.
void PumpBytes(int a, int b, const std::atomic<bool>* stop = nullptr);

}  // namespace vitrage::testing

#endif  // VITRAGE_COMMON_TESTING_TCP_PIPE_H_
