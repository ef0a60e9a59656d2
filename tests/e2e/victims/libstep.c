/*
 * libstep.c - the shared library of the libcounter e2e victim: a library of
 * the victim's own, installed beside it (not in a system directory), so that
 * a test can take it away and give it back under a --sysroot, from a
 * debuginfod server, or not at all.
 *
 * Its state lives in the library's own .data and .bss: a resurrected process
 * whose library came back wrong (other bytes, or not at all) stops counting
 * right. step_value() is what gdb `call`s on the restored process.
 */
#include <stdint.h>

/* .data: a pattern the oracle and the library's own check read. */
uint64_t step_key = 0x6e6563726f6c6962ULL; /* "necrolib" */
/* .bss: the count. */
static uint64_t steps;

/* One step: the next value, mixed with the key so that the caller can check it. */
uint64_t step_next(void)
{
    ++steps;
    return steps ^ step_key;
}

/* The count so far (gdb: `call step_value()`). */
uint64_t step_value(void)
{
    return steps;
}
