/* mm_api.h - which functions libmmgpt.so exports.
 *
 * The library's modules are compiled with hidden visibility (CMake C_VISIBILITY_PRESET hidden, i.e.
 * -fvisibility=hidden), so a function is visible to programs that link libmmgpt.so only when its
 * declaration lies between MM_API_BEGIN and MM_API_END. Every public header in include/ (mmgpt.h and the
 * per-module mm_*.h) wraps all its declarations so: its functions are the exported API. Internal headers
 * (core/core_internal.h, core/gguf_internal.h, tokenizer/tok_internal.h, ...) do not, and their functions
 * stay inside the library (tests that need them link the module OBJECT libraries directly).
 * The static library libmmgpt.a is unaffected. Test: tests/apps/test_app_exports.py (app_exports) checks
 * that the exported symbols are exactly the mmgpt_ / mm_ functions declared in the headers of include/.
 */
#ifndef MM_API_H
#define MM_API_H

#if defined(__GNUC__)
#define MM_API_BEGIN _Pragma("GCC visibility push(default)")
#define MM_API_END   _Pragma("GCC visibility pop")
#else
#define MM_API_BEGIN
#define MM_API_END
#endif

#endif /* MM_API_H */
