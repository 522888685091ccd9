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

// The Broadcaster, as a page uses it.
import { Broadcaster, type BroadcasterOptions, type BroadcastStats, type BroadcastError, type BroadcasterState, type StopResult, TsSegmenter, type TsSegment } from '../../pkg/livecast.js';

export async function goLive(relayUrl: string, streamId: string, streamKey: string): Promise<() => Promise<void>> {
  const options: BroadcasterOptions = { relayUrl, streamId, streamKey, video: { width: 1280, height: 720, fps: 30, bitrateKbps: 2500 }, segmentSeconds: 2 };
  const b = new Broadcaster(options);
  const off = b.on('stats', (s: BroadcastStats) => console.log(s.encodedFps, s.uploadQueue, s.lastUploadMs ?? 0));
  b.on('error', (e: BroadcastError) => { if (e.fatal) console.error(e.code, e.message); });
  b.addEventListener('state', (e: Event) => console.log((e as CustomEvent<BroadcasterState>).detail));
  await b.start();
  const state: BroadcasterState = b.state;
  const preview: MediaStream | null = b.mediaStream;
  // The preview as pages write it: `srcObject` takes `MediaStream | null`.
  const video = document.createElement('video');
  video.srcObject = b.mediaStream;
  void state;
  void preview;
  return async () => {
    off();
    const result: StopResult = await b.stop({ drainTimeoutMs: 30_000 });
    if (result.segmentsNotConfirmed.length > 0) console.warn('missing', result.segmentsNotConfirmed.join(', '), 'of', result.segmentsAcknowledged);
    await b.stop(); // options are optional; stopping again resolves at once
  };
}

export function segment(frames: { data: Uint8Array; keyframe: boolean; timestampUs: number }[]): TsSegment[] {
  const segmenter = new TsSegmenter({ segmentSeconds: 2 });
  const out: TsSegment[] = [];
  for (const f of frames) {
    const s = segmenter.push(f.data, f.keyframe, f.timestampUs);
    if (s) out.push(s);
  }
  const last = segmenter.finish();
  if (last) out.push(last);
  return out;
}

// @ts-expect-error the relay URL is required
export const noRelay: BroadcasterOptions = { streamId: 'a', streamKey: 'b' };
// @ts-expect-error not a state
export const badState: BroadcasterState = 'paused';

// Payments: a wallet found over EIP-6963, its session key funded, the Broadcaster paying.
import { Wallet, type WalletProviderDetail, type SenderInfo, type Eip1193Provider } from '../../pkg/livecast.js';

export async function payAndGoLive(relayUrl: string, streamId: string, streamKey: string, broker: string): Promise<string> {
  const found: WalletProviderDetail[] = await Wallet.discover(500);
  const provider: Eip1193Provider = found[0].provider;
  const wallet = await Wallet.connect(provider);
  await wallet.ensureChain(31337, { chainName: 'Local', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: ['http://127.0.0.1:8545'] });
  wallet.on('accountsChanged', (accounts: string[]) => console.log(accounts[0]));
  wallet.on('chainChanged', (id: number) => console.log(id));
  const key: string = await wallet.sessionKey(broker);
  const need = await wallet.fundingNeeded(broker, { deposit: 10n ** 17n, reserve: '0' });
  const total: bigint = need.total;
  console.log(`${Wallet.formatEther(total)} ETH for ${key}`);
  const info: SenderInfo = await wallet.senderInfo(broker);
  const left: bigint = info.deposit + info.reserve;
  void left;
  const options: BroadcasterOptions = {
    relayUrl, streamId, streamKey,
    payment: { wallet, broker, maxPricePerPixel: 10, deposit: 10n ** 17n, reserve: 0 },
  };
  const b = new Broadcaster(options);
  b.on('stats', (s: BroadcastStats) => console.log(s.ticketsSent, BigInt(s.evPaid), BigInt(s.feesDebited), s.winningTickets, s.ticketSender));
  await b.start();
  await wallet.unlockSessionKey(broker);
  return wallet.withdrawSessionKey(broker);
}

// @ts-expect-error the payment mode is "session" or "wallet"
export const badMode: BroadcasterOptions['payment'] = { wallet: null as unknown as Wallet, broker: '0x', mode: 'card', maxPricePerPixel: 1, deposit: 1n, reserve: 1n };

// The Player, as a watch page uses it.
import { Player, type PlayerConfig, type PlayerLevel, type PlayerErrorEvent, type PlayerStats, type LivecastErrorEvent, type LivecastErrorCode } from '../../pkg/livecast.js';

export function watch(video: HTMLVideoElement, url: string): () => void {
  if (!Player.isSupported()) throw new Error('no MSE');
  const config: PlayerConfig = {
    liveSyncSegments: 2, targetLatencySeconds: 4, maxLatencySeconds: 10, maxBufferSeconds: 20, backBufferSeconds: 10,
    segmentRetry: { maxRetries: 2, retryDelayMs: 200, backoff: 'linear' },
  };
  const player = new Player(video, config);
  // Every option has a default: the config may be left out.
  new Player(document.createElement('video')).destroy();
  player.on('manifestLoaded', ({ levels, live }) => console.log(levels.map((l: PlayerLevel) => `${l.name} ${l.bitrate}`), live));
  player.on('levelSwitched', ({ level }) => console.log(player.levels[level].height ?? 0));
  player.on('error', (e: PlayerErrorEvent) => { if (e.fatal && e.type === 'network') console.error(e.details, e.message); });
  player.addEventListener('latency', (e: Event) => console.log((e as CustomEvent).detail));
  player.load(url);
  player.currentLevel = -1;
  const stats: PlayerStats = player.stats;
  const latency: number | undefined = player.latency;
  const goLive: number | undefined = player.liveSyncPosition;
  if (goLive !== undefined && (latency ?? 0) > 10) video.currentTime = goLive;
  void stats;
  void latency;
  return () => player.destroy();
}

// @ts-expect-error backoff is one of three words
export const badBackoff: PlayerConfig = { playlistRetry: { backoff: 'random' } };
// @ts-expect-error not an error type
export const badType: PlayerErrorEvent['type'] = 'disk';
// @ts-expect-error not one of hls.js's details names
export const badDetails: PlayerErrorEvent['details'] = 'fragLoadFailed';
/** One handler for every class's error event: the shared code/message/fatal. */
export function logAny(e: LivecastErrorEvent): string {
  return `${e.code}${e.fatal ? ' (fatal)' : ''}: ${e.message}`;
}
export const playerCode = (e: PlayerErrorEvent): LivecastErrorCode => e.code;
export const broadcastAsAny = (e: BroadcastError): string => logAny(e);
export function wrongEvent(player: Player) {
  // @ts-expect-error the level of levelSwitched is a number
  player.on('levelSwitched', ({ level }) => level.toUpperCase());
}
