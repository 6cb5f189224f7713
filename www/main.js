// The demo page: UI only, it talks to the public JS API like any user of the package would. The
// device is chosen (and self-tested) in webtune's Worker, where every panel's pipeline runs.
import * as webtune from "/pkg/index.js";
import { $, showError } from "./ui.js";

const mib = (bytes) => (bytes == null ? "–" : `${Math.round(bytes / 2 ** 20)} MiB`);

function showDevice(info) {
  const rows = [
    ["kind", info.kind], ["backend", info.backend], ["adapter", info.adapter || "(not reported)"],
    ["type", info.deviceType],
    ["software adapter", info.kind === "cpu" ? "– (the CPU backend)" : info.deviceType === "Cpu" ? "yes (a software rasteriser: slow)" : "no"],
    ["maxBufferSize", mib(info.maxBufferSize)],
    ["maxStorageBufferBindingSize", mib(info.maxStorageBufferBindingSize)],
  ];
  $("device-info").tBodies[0].replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement("tr");
    for (const text of [k, v]) tr.insertCell().textContent = text;
    return tr;
  }));
  $("fallback").hidden = !info.fallback;
  $("fallback").textContent = info.fallback ? `Using the CPU: ${info.fallback}` : "";
}

async function selectDevice() {
  $("device-error").hidden = true;
  $("init-btn").disabled = true;
  try {
    showDevice(await webtune.init({ device: $("device-choice").value, worker: true }));
    $("selftest-btn").disabled = false;
  } catch (err) {
    showError(err, "device-error");
  } finally {
    $("init-btn").disabled = false;
  }
}

async function runSelfTest() {
  $("selftest-error").hidden = true;
  $("selftest-btn").disabled = true;
  $("selftest-result").textContent = "running…";
  try {
    const r = await webtune.selfTest({ worker: true });
    $("selftest-result").className = r.passed ? "ok" : "bad";
    $("selftest-result").textContent =
      `${r.passed ? "passed" : "FAILED"} on ${r.device.kind}: loss ${r.lossBefore.toFixed(4)} → ${r.lossAfter.toFixed(4)}, largest update ${r.updateSize.toExponential(2)} in ${r.millis.toFixed(0)} ms`;
  } catch (err) {
    $("selftest-result").textContent = "";
    showError(err, "selftest-error");
  } finally {
    $("selftest-btn").disabled = false;
  }
}

$("init-btn").addEventListener("click", selectDevice);
$("selftest-btn").addEventListener("click", runSelfTest);
webtune.version().then((v) => ($("version").textContent = `webtune ${v}`));
selectDevice();
