#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| livecast_fuzz::protobuf(data));
