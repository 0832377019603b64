import { createOnnxSession, loadOnnxRuntime } from '../../runtime/onnxruntime.js';
import { SECOND_CORE_SESSION, type StartTask } from '../../runtime/second-core.js';
import type { MirrorReply, MirrorRequest, MirrorTaskData } from './mobilefacenet.js';

/** MobileFaceNet's mirror pass on the second core: the same model and options as the caller's session, so the same values to the bit. */
export const startTask: StartTask<MirrorTaskData, MirrorRequest, MirrorReply> = async ({ onnx }) => {
  const session = await createOnnxSession((await loadOnnxRuntime())!, onnx, SECOND_CORE_SESSION);
  return async ({ input, shape }) => {
    const [output] = await session.run(input, shape);
    return { reply: { output: output! }, transfer: [output!.buffer as ArrayBuffer] };
  };
};
