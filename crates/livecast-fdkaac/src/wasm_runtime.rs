//! The two WASI file calls FDK AAC's stdio (through wasi-libc's `libc.a`) names beyond the
//! ones livecast-openh264's runtime answers (`fd_write`, `fd_seek`, `fd_close`): answered
//! with `EBADF` here so the module keeps no WASI imports. The library only reaches stdio on
//! its logging paths, which the encoder never takes. Malloc, `new` and the other C runtime
//! symbols are livecast-openh264's (linked in through the dependency below).

use livecast_openh264 as _;

/// WASI errno `EBADF`.
const EBADF: u16 = 8;

#[unsafe(no_mangle)]
pub extern "C" fn __imported_wasi_snapshot_preview1_fd_read(_fd: i32, _iovs: i32, _len: i32, _nread: i32) -> u16 {
    EBADF
}

#[unsafe(no_mangle)]
pub extern "C" fn __imported_wasi_snapshot_preview1_fd_fdstat_get(_fd: i32, _stat: i32) -> u16 {
    EBADF
}
