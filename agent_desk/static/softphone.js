// The desk's softphone: one agent's SIP-over-WebSocket phone (JsSIP) in the browser.
//
// The backend provisions the account (telephony/softphone.py) and hands the page its wsUrl,
// sipUri and password; this module registers, takes one call at a time and reports what
// happens as events. Calls are placed and bridged by the backend through ARI, so there is no
// dialling here: Asterisk calls the agent, the desk answers.
//
// Events (a Softphone is an EventTarget; `event.detail` carries the fields):
//   registered {}                      unregistered {cause}
//   registrationFailed {cause, status} incoming {session, from, displayName}
//   confirmed {}                       ended {cause, originator}
//   failed {cause, originator}         hold {held}
//
// Pitfalls this handles (see the project's WebRTC notes):
// - Headless and background tabs decode nothing until the remote track has a sink: the remote
//   stream is attached to `audioElement` as soon as the peer connection gets a track.
// - JsSIP fires `peerconnection` before `newRTCSession` for outgoing calls: the connection is
//   taken from `session.connection` too, whichever comes first.
// - A second call while one is up is refused with 486 Busy Here: one agent, one call.

import './vendor/jssip.min.js';

const JsSIP = globalThis.JsSIP;
const watched = new WeakSet();  // peer connections whose remote track already has a sink

// The backend hands a path (`/sip`: its own relay to Asterisk, so agents' PCs never reach
// Asterisk's HTTP port, where ARI listens) or a full ws(s):// address. A path is resolved
// against the page: ws:// beside http://, wss:// beside https://.
export function socketUrl(wsUrl, base = globalThis.location?.href) {
  if (/^wss?:\/\//.test(wsUrl)) return wsUrl;
  const url = new URL(wsUrl, base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

export class Softphone extends EventTarget {
  /**
   * @param {{wsUrl: string, sipUri: string, password: string, displayName?: string,
   *          audioElement: HTMLAudioElement, iceServers?: RTCIceServer[],
   *          registerExpires?: number}} options
   */
  constructor({wsUrl, sipUri, password, displayName = '', audioElement, iceServers = [],
               registerExpires = 300}) {
    super();
    if (!JsSIP) throw new Error('JsSIP bundle (vendor/jssip.min.js) did not load');
    if (!audioElement) throw new Error('an <audio> element is needed to play the caller');
    this.audioElement = audioElement;
    this.iceServers = iceServers;
    this.session = null;
    this._ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(socketUrl(wsUrl))],
      uri: sipUri,
      password,
      display_name: displayName,
      register: true,
      register_expires: registerExpires,
      session_timers: false,
    });
    this._ua.on('registered', () => this._emit('registered'));
    this._ua.on('unregistered', (e) => this._emit('unregistered', {cause: e?.cause ?? null}));
    this._ua.on('registrationFailed', (e) => this._emit('registrationFailed', {
      cause: e?.cause ?? null, status: e?.response?.status_code ?? null,
    }));
    this._ua.on('newRTCSession', (e) => this._onSession(e.session, e.originator));
  }

  /** Connect and register. Listen for `registered` / `registrationFailed`. */
  start() {
    this._ua.start();
  }

  /** Hang up any call, unregister and close the WebSocket. */
  stop() {
    if (this.session && !this.session.isEnded()) this.session.terminate();
    this._ua.stop();
  }

  get isRegistered() {
    return this._ua.isRegistered();
  }

  answer() {
    const session = this._requireSession();
    session.answer({
      mediaConstraints: {audio: true, video: false},
      pcConfig: {iceServers: this.iceServers},
    });
  }

  hangup() {
    if (this.session && !this.session.isEnded()) this.session.terminate();
  }

  /** Mute or unmute the agent's microphone (the caller hears silence). */
  mute(on) {
    const session = this._requireSession();
    if (on) session.mute({audio: true});
    else session.unmute({audio: true});
  }

  /** Put the caller on hold (re-INVITE sendonly) or take them off hold. */
  hold(on) {
    const session = this._requireSession();
    const done = () => this._emit('hold', {held: Boolean(on)});
    if (on) session.hold({}, done);
    else session.unhold({}, done);
  }

  /** Send DTMF digits in the media (RFC 4733), which is what Asterisk endpoints expect. */
  sendDtmf(digits) {
    this._requireSession().sendDTMF(String(digits), {transportType: 'RFC2833'});
  }

  /**
   * Audio counters of the current call from RTCPeerConnection.getStats():
   * {inbound: {packetsReceived, audioLevel, totalSamplesReceived}, outbound: {packetsSent}}.
   * Zeros when there is no call.
   */
  async stats() {
    const result = {
      inbound: {packetsReceived: 0, audioLevel: 0, totalSamplesReceived: 0},
      outbound: {packetsSent: 0},
    };
    const connection = this.session?.connection;
    if (!connection) return result;
    const report = await connection.getStats();
    report.forEach((s) => {
      if (s.kind !== 'audio') return;
      if (s.type === 'inbound-rtp') {
        result.inbound.packetsReceived = s.packetsReceived ?? 0;
        result.inbound.audioLevel = s.audioLevel ?? 0;
        result.inbound.totalSamplesReceived = s.totalSamplesReceived ?? 0;
      } else if (s.type === 'outbound-rtp') {
        result.outbound.packetsSent = s.packetsSent ?? 0;
      }
    });
    return result;
  }

  _requireSession() {
    if (!this.session || this.session.isEnded()) throw new Error('no call in progress');
    return this.session;
  }

  _onSession(session, originator) {
    if (this.session && !this.session.isEnded()) {
      if (originator === 'remote') session.terminate({status_code: 486, reason_phrase: 'Busy Here'});
      return;
    }
    this.session = session;
    if (session.connection) this._watchConnection(session.connection);
    session.on('peerconnection', (e) => this._watchConnection(e.peerconnection));
    session.on('confirmed', () => this._emit('confirmed'));
    session.on('ended', (e) => this._finish('ended', session, e));
    session.on('failed', (e) => this._finish('failed', session, e));
    if (originator === 'remote') {
      const uri = session.remote_identity?.uri;
      this._emit('incoming', {
        session,
        from: uri?.user ?? '',
        displayName: session.remote_identity?.display_name ?? '',
      });
    }
  }

  _watchConnection(connection) {
    if (watched.has(connection)) return;
    watched.add(connection);
    connection.addEventListener('track', (e) => {
      if (e.track.kind !== 'audio') return;
      this.audioElement.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      // Autoplay may be refused without a user gesture; the desk's answer button is one.
      this.audioElement.play().catch(() => {});
    });
  }

  _finish(type, session, e) {
    if (this.session === session) {
      this.session = null;
      this.audioElement.srcObject = null;
    }
    this._emit(type, {cause: e?.cause ?? null, originator: e?.originator ?? null});
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, {detail}));
  }
}
