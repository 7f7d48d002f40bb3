// spdlog's implementation, compiled once into cnimux_spdlog (SPDLOG_COMPILED_LIB, fmt
// header-only) so that no binary loads libspdlog.so and libfmt.so at start-up.
//
// In compiled mode spdlog's headers only declare; the definitions live in its *-inl.h files,
// included here. Class templates defined there are instantiated explicitly for the mutex
// types the project's sinks use (std::mutex for *_mt, console_mutex for the console sinks,
// null_mutex for *_st); a sink type not listed here fails to link rather than misbehave.
#ifndef SPDLOG_COMPILED_LIB
#error "cni/spdlog_impl.cc is built only with SPDLOG_COMPILED_LIB (cnimux_spdlog)"
#endif

#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/file_helper-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/basic_file_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/stdout_color_sinks-inl.h>
#include <spdlog/sinks/stdout_sinks-inl.h>
#include <spdlog/spdlog-inl.h>

#include <mutex>

namespace spdlog {
namespace sinks {

template class base_sink<std::mutex>;
template class base_sink<details::null_mutex>;

template class basic_file_sink<std::mutex>;
template class basic_file_sink<details::null_mutex>;

template class stdout_sink_base<details::console_mutex>;
template class stdout_sink_base<details::console_nullmutex>;
template class stdout_sink<details::console_mutex>;
template class stdout_sink<details::console_nullmutex>;
template class stderr_sink<details::console_mutex>;
template class stderr_sink<details::console_nullmutex>;

// The registry's default logger writes through the colour console sink.
template class ansicolor_sink<details::console_mutex>;
template class ansicolor_sink<details::console_nullmutex>;
template class ansicolor_stdout_sink<details::console_mutex>;
template class ansicolor_stdout_sink<details::console_nullmutex>;
template class ansicolor_stderr_sink<details::console_mutex>;
template class ansicolor_stderr_sink<details::console_nullmutex>;

}  // namespace sinks
}  // namespace spdlog
