// Default options of the AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer runtimes for
// every executable of a LOOM_SANITIZE build (cmake/LoomHelpers.cmake links this file into them), so
// a test binary, loom-cli or loom behaves the same under CTest, under a CLI test script and run by
// hand. Options in ASAN_OPTIONS, LSAN_OPTIONS and UBSAN_OPTIONS are read after these and win.
//
// The runtimes look these hooks up by name when they start; nothing in Loom calls them.

// Stop at the first error with a non-zero exit status; report leaks at exit; catch static
// initialisers that read another file's globals before those are built; give a stack for abort()
// (std::terminate) as well.
//
// intercept_tls_get_addr=0 works around a bug of the LLVM 14 runtime: it guesses the layout of a
// dynamic TLS block from its address (a glibc 2.19 header when the address is 16 past a page), and
// when a block of glibc 2.36 happens to lie there, LeakSanitizer scans a made-up range at exit and
// dies with "Tracer caught signal 11" (google/sanitizers#1322; seen on loaded machines in loom-cli,
// whose run-time modules are dlopen()ed with thread_locals of their own). glibc 2.25+ allocates those
// blocks with malloc and points to them from the thread's DTV, so leak checking still sees what they
// hold without the interceptor.
extern "C" const char* __asan_default_options() {
  return "halt_on_error=1:abort_on_error=0:detect_leaks=1:check_initialization_order=1:strict_init_order=1:"
         "detect_stack_use_after_return=1:strict_string_checks=1:handle_abort=1:intercept_tls_get_addr=0";
}

// Only third-party leaks are suppressed, each with its reason in the file.
extern "C" const char* __lsan_default_options() {
  return "suppressions=" LOOM_LSAN_SUPPRESSIONS ":print_suppressions=0";
}

// Every check is built with -fno-sanitize-recover, so a finding aborts; the stack says where.
extern "C" const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1:suppressions=" LOOM_UBSAN_SUPPRESSIONS;
}
