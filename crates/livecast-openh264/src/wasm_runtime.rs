//! The C and C++ runtime that openh264 links against on `wasm32-unknown-unknown`.
//!
//! There is no libc++ or libc allocator in a Rust wasm module: openh264's `operator new`,
//! `malloc` and friends are served by Rust's global allocator, and the few OS calls it
//! makes get single-threaded answers. wasi-libc's `libc.a` supplies the rest
//! (`vsnprintf`, `strncpy`, math); its three WASI file calls are answered here so that
//! the module keeps no WASI imports and loads in a page as is. Each symbol is listed with
//! its reason in `docs/openh264-wasm.md`.
#![allow(clippy::missing_safety_doc)]

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc as grow, Layout};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::null_mut;

/// Every block carries its size in a header this big, which also keeps the 16-byte
/// alignment C++ and openh264 expect from `malloc`.
const HEADER: usize = 16;

fn layout(total: usize) -> Option<Layout> {
    Layout::from_size_align(total, HEADER).ok()
}

unsafe fn finish(base: *mut u8, total: usize) -> *mut c_void {
    if base.is_null() {
        return null_mut();
    }
    unsafe {
        base.cast::<usize>().write(total);
        base.add(HEADER).cast()
    }
}

unsafe fn header(ptr: *mut c_void) -> (*mut u8, usize) {
    unsafe {
        let base = ptr.cast::<u8>().sub(HEADER);
        (base, base.cast::<usize>().read())
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    match size.checked_add(HEADER).and_then(|t| layout(t).map(|l| (t, l))) {
        Some((total, l)) => unsafe { finish(alloc(l), total) },
        None => null_mut(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size).and_then(|s| s.checked_add(HEADER)).and_then(|t| layout(t).map(|l| (t, l))) {
        Some((total, l)) => unsafe { finish(alloc_zeroed(l), total) },
        None => null_mut(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return unsafe { malloc(size) };
    }
    let Some(total) = size.checked_add(HEADER) else { return null_mut() };
    unsafe {
        let (base, old) = header(ptr);
        let Some(old_layout) = layout(old) else { return null_mut() };
        finish(grow(base, old_layout, total), total)
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    unsafe {
        let (base, total) = header(ptr);
        if let Some(l) = layout(total) {
            dealloc(base, l);
        }
    }
}

// C++ operator new / new[] / delete / delete[] (Itanium mangled names; on wasm32 size_t
// is `unsigned long`, hence the `m`).
// openh264 is built with -fno-exceptions, so a failed `new` returns null like `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _Znwm(size: usize) -> *mut c_void {
    unsafe { malloc(size) }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _Znam(size: usize) -> *mut c_void {
    unsafe { malloc(size) }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdlPv(ptr: *mut c_void) {
    unsafe { free(ptr) }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdaPv(ptr: *mut c_void) {
    unsafe { free(ptr) }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdlPvm(ptr: *mut c_void, _size: usize) {
    unsafe { free(ptr) }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdaPvm(ptr: *mut c_void, _size: usize) {
    unsafe { free(ptr) }
}

/// Called if a pure virtual method is ever invoked: a bug in the C++, so stop loudly.
#[unsafe(no_mangle)]
pub extern "C" fn __cxa_pure_virtual() {
    panic!("openh264 called a pure virtual function");
}

/// `assert()` failure (compiled out with NDEBUG, kept for completeness).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __assert_fail(_expr: *const c_char, _file: *const c_char, line: u32, _func: *const c_char) {
    panic!("openh264 assertion failed at line {line}");
}

#[unsafe(no_mangle)]
pub extern "C" fn getpid() -> c_int {
    1
}

/// openh264 only sleeps while waiting for worker threads, which it has none of here.
#[unsafe(no_mangle)]
pub extern "C" fn usleep(_micros: u32) -> c_int {
    0
}

/// wasi-libc's `struct timeval`: 64-bit seconds and microseconds.
#[repr(C)]
pub struct Timeval {
    tv_sec: i64,
    tv_usec: i64,
}

/// Wall-clock time for openh264's statistics, from the page's `Date.now()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gettimeofday(tv: *mut Timeval, _tz: *mut c_void) -> c_int {
    if !tv.is_null() {
        let ms = js_sys::Date::now();
        unsafe {
            (*tv).tv_sec = (ms / 1000.0) as i64;
            (*tv).tv_usec = ((ms % 1000.0) * 1000.0) as i64;
        }
    }
    0
}

/// openh264's log sink. On wasm32 a C variadic call passes its extra arguments through
/// one pointer, so this three-argument definition matches the call. Logging is off.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fprintf(_stream: *mut c_void, _format: *const c_char, _args: *mut c_void) -> c_int {
    0
}

/// WASI `errno` for "bad file descriptor": there are no files in a page.
const WASI_EBADF: u16 = 8;

#[unsafe(no_mangle)]
pub extern "C" fn __imported_wasi_snapshot_preview1_fd_write(_fd: i32, _iovs: i32, _len: i32, _written: i32) -> u16 {
    WASI_EBADF
}
#[unsafe(no_mangle)]
pub extern "C" fn __imported_wasi_snapshot_preview1_fd_seek(_fd: i32, _offset: i64, _whence: i32, _new: i32) -> u16 {
    WASI_EBADF
}
#[unsafe(no_mangle)]
pub extern "C" fn __imported_wasi_snapshot_preview1_fd_close(_fd: i32) -> u16 {
    WASI_EBADF
}

unsafe extern "C" {
    /// Runs the C++ static constructors; wasm-ld generates it.
    fn __wasm_call_ctors();
}

/// Runs openh264's C++ static constructors once. The wasm module's start function calls
/// it; calling it again does nothing.
pub fn run_static_constructors() {
    static DONE: std::sync::Once = std::sync::Once::new();
    // SAFETY: generated by the linker; the Once guard keeps it to a single call.
    DONE.call_once(|| unsafe { __wasm_call_ctors() });
}
