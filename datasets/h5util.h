// h5util.h — checked HDF5 calls and the few helpers the packer and the dataset reader share.
//
// Every HDF5 call goes through H5_CHECK(call, "what it touches"): a negative return (or a negative
// hid_t) fails with PT_RUNTIME naming this source file:line, the call, and the HDF5 file / object
// name passed as the second argument, plus the innermost message of HDF5's own error stack.
// HDF5's automatic error printing is switched off by pt_h5_init() so each failure reads as one line.
//
// Thread safety: HDF5 is only safe to call from several threads when the library was built
// thread-safe (Debian's serial libhdf5 is). pt_h5_lock()/pt_h5_unlock() take a process-wide mutex
// when it is not, and are no-ops when it is; the dataset reader wraps every HDF5 call sequence in them.
#pragma once
#include <stdint.h>
#include <hdf5.h>

#include "tools/check.h"

// Call once before any HDF5 call (idempotent, thread safe).
void pt_h5_init(void);
void pt_h5_lock(void);
void pt_h5_unlock(void);

// Fails (exit 1) naming file:line, the call text, `what`, and HDF5's innermost error message.
#if defined(__GNUC__)
__attribute__((noreturn))
#endif
void pt_h5_fail(const char *file, int line, const char *call, const char *what);

// Evaluate an HDF5 call, fail if it returns a negative value; the expression's value is the result.
#define H5_CHECK(call, what)                                                                    \
    ({ __typeof__(call) pt__h5r = (call);                                                        \
       if (pt__h5r < 0) pt_h5_fail(__FILE__, __LINE__, #call, (what));                           \
       pt__h5r; })

// The IEEE half-precision file/memory type (HDF5 1.10 has no predefined one; h5py/numpy float16
// read it as float16). Created once, never closed.
hid_t pt_h5_f16_type(void);

// Attributes on an object (group or file root). `what` names the object in errors.
void pt_h5_attr_write_i64(hid_t obj, const char *name, int64_t v, const char *what);
void pt_h5_attr_write_f64(hid_t obj, const char *name, double v, const char *what);
void pt_h5_attr_write_str(hid_t obj, const char *name, const char *s, const char *what);
int pt_h5_attr_exists(hid_t obj, const char *name, const char *what);
// Readers fail with PT_USAGE naming `what` and the attribute when it is missing.
int64_t pt_h5_attr_read_i64(hid_t obj, const char *name, const char *what);
double pt_h5_attr_read_f64(hid_t obj, const char *name, const char *what);
// Returns a malloc'ed string.
char *pt_h5_attr_read_str(hid_t obj, const char *name, const char *what);

// Does the link `name` exist below `loc` (one path component)?
int pt_h5_link_exists(hid_t loc, const char *name, const char *what);
