// webtune's Worker on an adapter without the optional "subgroups" and "shader-f16" features
// (tests/js/webgpu-features.test.mjs): static imports run in order, so the features are hidden
// before webtune's worker module starts.
import "./hide-webgpu-features.js";
import "/pkg/worker.js";
