// Parser: JSON (the default). Non-string frames (binary) pass through undecoded, like the
// reference.
Primus.parsers.json = {
  encoder(data, fn) {
    let err = null;
    try {
      data = JSON.stringify(data);
    } catch (e) {
      err = e;
    }
    fn(err, data);
  },
  decoder(data, fn) {
    let err = null;
    if (typeof data !== 'string') return fn(err, data);
    try {
      data = JSON.parse(data);
    } catch (e) {
      err = e;
    }
    fn(err, data);
  },
};
