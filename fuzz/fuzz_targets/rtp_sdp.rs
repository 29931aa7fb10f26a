#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::rtp::rtp_sdp(data));
