// Transport: plain WebSocket (the `websockets` transformer; also what `faye` and `uws` speak).
// One Primus message = one WebSocket message; binary parsers send binary frames.
Primus.transports.websockets = function client() {
  const primus = this;
  let socket = null;
  const Factory = typeof WebSocket !== 'undefined' ? WebSocket : undefined;

  if (!Factory) {
    return primus.critical(new Error('This environment has no WebSocket (a browser, or Node 22+, is needed)'));
  }

  primus.on('outgoing::open', function opening() {
    primus.emit('outgoing::end');
    try {
      primus.socket = socket = new Factory(primus.uri({ protocol: 'ws:', query: true }));
      socket.binaryType = 'arraybuffer';
    } catch (e) {
      return primus.emit('error', e);
    }
    socket.onopen = () => primus.emit('incoming::open');
    socket.onerror = (e) => primus.emit('incoming::error', e);
    socket.onclose = () => primus.emit('incoming::end');
    socket.onmessage = (evt) => primus.emit('incoming::data', evt.data);
  });

  primus.on('outgoing::data', function write(message) {
    if (!socket || socket.readyState !== Factory.OPEN) return;
    try {
      socket.send(message);
    } catch (e) {
      primus.emit('incoming::error', e);
    }
  });

  primus.on('outgoing::reconnect', function reconnect() {
    primus.emit('outgoing::open');
  });

  primus.on('outgoing::end', function close() {
    if (!socket) return;
    socket.onerror = socket.onopen = socket.onclose = socket.onmessage = () => {};
    socket.close();
    socket = null;
  });
};
