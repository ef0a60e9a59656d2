/*
 * crash_aarch64.c - aarch64 test program that crashes with a NULL deref.
 *
 * Built static (aarch64-linux-gnu-gcc -static -O1 -g) and run under
 * qemu-aarch64 so QEMU writes a genuine aarch64 ELF core dump.
 */
#include <stdlib.h>

volatile unsigned long counter;
unsigned char *volatile pattern_buf;
int *volatile null_ptr; /* zero-initialised; volatile so the deref stays */

int main(void)
{
    pattern_buf = malloc(4096);
    if (!pattern_buf)
        return 1;
    for (unsigned i = 0; i < 4096; i++)
        pattern_buf[i] = (unsigned char)((i * 7u + 0x5au) & 0xffu);
    static const char tag[] = "NECRO-CRASH-PATTERN";
    for (unsigned i = 0; i < sizeof(tag); i++)
        pattern_buf[i] = (unsigned char)tag[i];

    /* "A little work". */
    for (unsigned long i = 0; i < 100000; i++)
        counter++;

    return *null_ptr; /* SIGSEGV */
}
