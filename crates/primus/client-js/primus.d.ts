// TypeScript declarations of the primus-rs browser client, served at <pathname>/primus.d.ts.
// The UMD build defines a global (default `Primus`); the ES module build
// (<pathname>/primus.js?esm) exports it as `default` and as `Primus`.

export type ReadyState = 1 | 2 | 3;

export interface ReconnectOptions {
  /** Longest delay between attempts in ms (default Infinity). Human strings like '10 s' work. */
  max?: number | string;
  /** Delay of the first attempt in ms (default 500). */
  min?: number | string;
  /** Attempts before giving up with `reconnect failed` (default 10). */
  retries?: number;
  /** Exponential factor (default 2). */
  factor?: number;
  /** How long one attempt may take (default 30 s). */
  'reconnect timeout'?: number | string;
}

export interface ReconnectOpts extends Required<ReconnectOptions> {
  attempt: number;
  scheduled: number;
  start: number;
  duration: number;
  backoff: boolean;
}

export interface PrimusOptions {
  url?: string;
  uri?: string;
  reconnect?: ReconnectOptions;
  /** Connect timeout in ms, first connection only (default 10000; false: none). */
  timeout?: number | false;
  /** Close when no server ping arrives within this many ms (default from the server). */
  pingTimeout?: number | false;
  /** 'disconnect,online,timeout' by default (no 'timeout' when the server authorizes). */
  strategy?: string | string[] | false;
  /** Call open() yourself. */
  manual?: boolean;
  /** false: never use WebSocket (engine.io polling only, sockjs without websocket). */
  websockets?: boolean;
  /** Use the browser's online/offline events. */
  network?: boolean;
  /**
   * Transport options: `{transports: ['xhr-streaming']}` picks sockjs/engine.io/socket.io
   * transports; socket.io: `{auth: {...}}` is the CONNECT payload; webtransport takes
   * `{serverCertificateHashes, port, maxLength}` (the hashes as the WebTransport API takes
   * them; without them the server's published ones are used).
   */
  transport?: { transports?: string[]; auth?: Record<string, unknown>; [key: string]: unknown };
  /** Most messages kept while not connected; the oldest is dropped (default Infinity; 0 keeps none). */
  queueSize?: number;
}

export interface Packet {
  data: any;
}

export type Transform = ((packet: Packet) => boolean | void) | ((packet: Packet, done: (err?: Error | null, keep?: boolean) => void) => void);

export interface SocketOptions {
  transformer?: 'websockets' | 'engine.io' | 'sockjs' | 'faye' | 'sse' | 'uws' | 'lws' | 'socket.io' | 'browserchannel' | 'webtransport' | string;
  parser?: 'json' | 'msgpack' | 'ejson' | 'binary' | string;
  pathname?: string;
  authorization?: boolean;
  plugin?: Record<string, ((primus: Primus, options: PrimusOptions) => void) | { client: (primus: Primus, options: PrimusOptions) => void }>;
}

export interface PrimusEvents {
  open: () => void;
  data: (data: any, raw: string | ArrayBuffer) => void;
  error: (err: Error) => void;
  end: () => void;
  close: () => void;
  reconnect: (opts: ReconnectOpts) => void;
  'reconnect scheduled': (opts: ReconnectOpts) => void;
  reconnected: (opts: ReconnectOpts) => void;
  'reconnect timeout': (err: Error, opts: ReconnectOpts) => void;
  'reconnect failed': (err: Error, opts: ReconnectOpts) => void;
  timeout: () => void;
  online: () => void;
  offline: () => void;
  readyStateChange: (state: 'opening' | 'open' | 'end') => void;
  destroy: () => void;
  'outgoing::url': (options: Record<string, any>) => void;
}

export declare class Primus {
  constructor(url?: string, options?: PrimusOptions);
  constructor(options: PrimusOptions);

  static readonly OPENING: 1;
  static readonly CLOSED: 2;
  static readonly OPEN: 3;
  static connect(url?: string, options?: PrimusOptions): Primus;
  static createSocket(options?: SocketOptions): typeof Primus;
  /** Reconnect delay of attempt n (1-based): min, then min(round((rand+1)·min·factor^(n-1)), max). */
  static backoffDelay(attempt: number, min: number, max: number, factor: number, random?: () => number): number;
  static normaliseStrategy(strategy: string | string[] | false | undefined, authorization: boolean): string;

  readonly pathname: string;
  readonly version: string;
  readonly transformer: string;
  readonly parser: string;
  readonly authorization: boolean;
  readyState: ReadyState;
  online: boolean;
  buffer: unknown[];
  options: PrimusOptions & { strategy: string };
  socket: unknown;

  on<E extends keyof PrimusEvents>(event: E, fn: PrimusEvents[E], context?: unknown): this;
  on(event: string, fn: (...args: any[]) => void, context?: unknown): this;
  once<E extends keyof PrimusEvents>(event: E, fn: PrimusEvents[E], context?: unknown): this;
  once(event: string, fn: (...args: any[]) => void, context?: unknown): this;
  off(event: string, fn?: (...args: any[]) => void): this;
  removeListener(event: string, fn?: (...args: any[]) => void): this;
  removeAllListeners(event?: string): this;
  listeners(event: string): Array<(...args: any[]) => void>;
  emit(event: string, ...args: any[]): boolean;

  open(): this;
  write(data: unknown): true;
  end(data?: unknown): this;
  destroy(): boolean;
  /** The spark id, always asked from the server (also on engine.io). */
  id(fn: (id: string) => void): this;
  id(): Promise<string>;
  transform(type: 'incoming' | 'outgoing', fn: Transform): this;
  plugin(name: string): ((primus: Primus, options: PrimusOptions) => void) | undefined;
  plugin(): Record<string, (primus: Primus, options: PrimusOptions) => void>;
  reserved(event: string): boolean;
}

export default Primus;
