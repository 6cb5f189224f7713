// Counts the GPU buffers alive in this Worker (created and not yet destroyed) and their bytes,
// for the resource soak (tests/bench/soak.mjs).
self.liveBuffers = 0;
self.liveBufferBytes = 0;
const alive = new WeakSet();
const createBuffer = GPUDevice.prototype.createBuffer;
GPUDevice.prototype.createBuffer = function (descriptor) {
  const buffer = createBuffer.call(this, descriptor);
  alive.add(buffer);
  self.liveBuffers++;
  self.liveBufferBytes += descriptor.size;
  return buffer;
};
const destroy = GPUBuffer.prototype.destroy;
GPUBuffer.prototype.destroy = function () {
  if (alive.delete(this)) {
    self.liveBuffers--;
    self.liveBufferBytes -= this.size;
  }
  return destroy.call(this);
};
