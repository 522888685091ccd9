// Type-checks a watch page that imports only the player module (`livecast/player`,
// pkg/player): the Player's API is the same as in the full package, and nothing else is
// exported.
import initPlayer, { Player, type PlayerConfig, type PlayerLevel, type PlayerErrorEvent, type LivecastError } from '../../pkg/player/livecast_player.js';
// The same Player class type from both entries: code written against one fits the other.
import type { Player as FullPlayer } from '../../pkg/livecast.js';

export async function watchOnly(video: HTMLVideoElement, url: string): Promise<() => void> {
  await initPlayer();
  if (!Player.isSupported()) throw new Error('no MSE');
  const config: PlayerConfig = { targetLatencySeconds: 4, segmentRetry: { maxRetries: 2, backoff: 'exponential' } };
  let player: Player;
  try {
    player = new Player(video, config);
  } catch (e) {
    const error = e as LivecastError;
    if (error.code === 'INVALID_CONFIG') throw new TypeError(error.message);
    throw error;
  }
  player.on('manifestLoaded', ({ levels }) => console.log(levels.map((l: PlayerLevel) => l.height ?? 0)));
  player.on('error', (e: PlayerErrorEvent) => { if (e.fatal) console.error(e.type, e.details); });
  player.load(url);
  const same: FullPlayer = player;
  void same;
  return () => player.destroy();
}

// Mistakes the types must catch:
// @ts-expect-error the player module has no Broadcaster
import { Broadcaster } from '../../pkg/player/livecast_player.js';
// @ts-expect-error nor an encoder
import { H264Encoder } from '../../pkg/player/livecast_player.js';
// @ts-expect-error nor a Wallet
import { Wallet } from '../../pkg/player/livecast_player.js';
void Broadcaster;
void H264Encoder;
void Wallet;
// @ts-expect-error backoff is one of three words
export const badPlayerBackoff: PlayerConfig = { segmentRetry: { backoff: 'random' } };
