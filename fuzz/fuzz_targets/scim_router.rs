#![no_main]
// The harness and its oracle are canon::fuzzing::scim_router (tests/fuzz_corpus.rs replays the corpus).
libfuzzer_sys::fuzz_target!(|data: &[u8]| canon::fuzzing::scim_router(data));
