/**
 * The worker thread of tensorChecks.ts: receives a model's tensors, checks them (checkTensors) and sends them back
 * with the result, moving their buffers both ways.
 */
import { parentPort } from 'node:worker_threads';
import { checkTensors, type TensorChecksMessage } from './tensorChecks.js';

parentPort!.once('message', (message: TensorChecksMessage) => {
  const checks = checkTensors(new Map(message.tensors.map(([name, dtype, shape, data]) => [name, { dtype, shape, data }])));
  const reply: TensorChecksMessage = { tensors: message.tensors, checks };
  parentPort!.postMessage(reply, message.tensors.map(([, , , data]) => data.buffer as ArrayBuffer));
});
