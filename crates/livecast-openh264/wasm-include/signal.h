/* Empty stand-in for <signal.h> on wasm32: openh264's thread header includes it but uses
 * nothing from it, and wasi-libc's own header refuses to compile without emulated
 * signals. Written for Livecast. */
#ifndef LIVECAST_WASM_SIGNAL_H
#define LIVECAST_WASM_SIGNAL_H
#endif
