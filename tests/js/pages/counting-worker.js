// webtune's Worker with its GPU buffers counted (tests/bench/soak.mjs).
import "./count-gpu-buffers.js";
import "/pkg/worker.js";
