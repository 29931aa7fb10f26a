#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::whip_whep::whep_frames(data));
