// Type-checks a page author's use of the package (npm run typecheck): the generated
// .d.ts must describe the API precisely enough to catch mistakes.
import init, { H264Encoder, type H264EncoderConfig, type EncodedFrame, type LivecastError } from '../../pkg/livecast.js';

export async function encodeOne(image: ImageData): Promise<Uint8Array> {
  await init();
  const config: H264EncoderConfig = { width: image.width, height: image.height, fps: 30, bitrateKbps: 2000 };
  const encoder = new H264Encoder(config);
  try {
    const frame: EncodedFrame = encoder.encodeRgba(image.data, performance.now() * 1000);
    const y = new Uint8Array(config.width * config.height);
    const uv = new Uint8Array(y.length / 4);
    const next: EncodedFrame = encoder.encodeI420(y, uv, uv, 33_333);
    const keyframe: boolean = frame.keyframe && !next.keyframe;
    encoder.forceKeyframe();
    const sizes: number[] = [encoder.width, encoder.height, encoder.fps, encoder.bitrateKbps, encoder.keyframeIntervalFrames, encoder.framesEncoded];
    void keyframe;
    void sizes;
    return frame.data;
  } catch (e) {
    const error = e as LivecastError;
    if (error.code === 'INVALID_FRAME') throw new RangeError(error.message);
    throw error;
  } finally {
    encoder.free();
  }
}

// Mistakes the types must catch:
// @ts-expect-error width is required
export const missingWidth: H264EncoderConfig = { height: 480 };
// @ts-expect-error bitrate is a number
export const stringBitrate: H264EncoderConfig = { width: 640, height: 480, bitrateKbps: '2000' };
// @ts-expect-error not an error code Livecast throws
export const badCode: LivecastError['code'] = 'OOPS';
export function wrongBuffer(encoder: H264Encoder) {
  // @ts-expect-error a plain array is not a frame buffer
  encoder.encodeRgba([1, 2, 3], 0);
}
