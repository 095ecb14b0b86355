// The chat example (crates/primus/examples/chat/) in Chromium: the emitter, rooms and
// session plugins behind its own page. Each user logs in through the page's form (HTTP,
// a session cookie; each user its own browser context, so its own cookie jar) and the
// server knows the user of a connection from that session only. Two users, two rooms: alice joins `rust` and `js`, bob
// joins `js` only; messages reach the members of their room and nobody else, a `say`
// in a room one is not in is refused through the acknowledgement, and when bob's page
// closes alice is told he left `js`. Driven through the page's form fields and buttons,
// and through the page's own `window.chat` functions for what the UI does not offer.
// A screenshot of alice's page lands in crates/primus/examples/chat/screenshot.png.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { repo, startServer, launchBrowser, sleep } from './lib/harness.mjs';

const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const EXAMPLE = join(targetDir, 'debug', 'examples', 'chat');
const SCREENSHOT = join(repo, 'crates', 'primus', 'examples', 'chat', 'screenshot.png');

/** The lines a page shows in one room, as text (`time` left out). */
function roomLines(page, room) {
  return page.evaluate((room) => {
    const section = [...document.querySelectorAll('#rooms .room')].find((s) => s.dataset.room === room);
    if (!section) return null;
    return [...section.querySelectorAll('.log li')].map((li) => {
      const c = li.cloneNode(true);
      c.querySelector('time')?.remove();
      return (li.classList.contains('msg') ? 'msg ' : 'info ') + c.textContent.trim();
    });
  }, room);
}

/** Wait (bounded) until the page shows `text` in `room`. */
async function waitLine(page, room, text, timeout = 5000) {
  try {
    await page.waitForFunction(([room, text]) => {
      const section = [...document.querySelectorAll('#rooms .room')].find((s) => s.dataset.room === room);
      return !!section && [...section.querySelectorAll('.log li')].some((li) => li.textContent.includes(text));
    }, [room, text], { timeout });
  } catch {
    throw new Error(`no "${text}" in #${room} within ${timeout} ms: ${JSON.stringify(await roomLines(page, room))}`);
  }
}

/** What the page received from the server, as [event, payload] pairs. */
const received = (page) => page.evaluate(() => window.chat.received);

async function openChat(context, port) {
  const page = await context.newPage();
  page.pageErrors = [];
  page.on('pageerror', (e) => page.pageErrors.push(e));
  await page.setViewportSize({ width: 1000, height: 480 });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('body[data-state="open"]');
  return page;
}

async function setName(page, name) {
  await page.fill('#name', name);
  await page.click('#login');
  await page.waitForSelector(`body[data-user="${name}"]`);
  assert.equal(await page.textContent('#me'), `you are ${name}`);
  // The page connects again after the login, with the session cookie.
  await page.waitForSelector('body[data-state="open"]');
  assert.deepEqual(await page.evaluate(() => fetch('/me').then((r) => r.json())), { user: name });
}

async function joinRoom(page, room) {
  await page.fill('#room', room);
  await page.click('#join');
  await page.waitForSelector(`#rooms .room[data-room="${room}"]`);
}

async function sayIn(page, room, text) {
  const section = `#rooms .room[data-room="${room}"]`;
  await page.fill(`${section} input.text`, text);
  await page.click(`${section} button.send`);
}

describe('chat example: emitter + rooms, two users in two rooms', () => {
  let browser;
  let server;
  const contexts = [];
  /** A fresh browser context: its own cookie jar, so its own session. */
  async function newContext() {
    const context = await browser.context.browser().newContext();
    context.setDefaultTimeout(10000);
    contexts.push(context);
    return context;
  }
  before(async () => {
    assert.ok(existsSync(EXAMPLE), `${EXAMPLE} is missing: cargo build -p primus-rs --example chat`);
    browser = await launchBrowser();
    server = await startServer({ port: 0 }, EXAMPLE);
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('the page is served at / and loads the client with both plugins', async () => {
    const page = await openChat(await newContext(), server.port);
    const plugins = await page.evaluate(() => Object.keys(window.primus.plugin()));
    assert.ok(plugins.includes('emitter'), `plugins: ${plugins}`);
    const missing = await page.evaluate(() => fetch('/nope').then((r) => r.status));
    assert.equal(missing, 404);
    assert.deepEqual(page.pageErrors, []);
    await page.close();
  });

  it('refuses bad names at login, join and say without a login, empty and long messages', async () => {
    const page = await openChat(await newContext(), server.port);
    const answers = await page.evaluate(async () => ({
      me: await fetch('/me').then((r) => r.json()),
      joinFirst: await window.chat.join('rust'),
      sayFirst: await new Promise((r) => window.primus.send('say', 'rust', 'hi', r)),
      empty: await window.chat.login(''),
      long: await window.chat.login('x'.repeat(33)),
      control: await window.chat.login('a\u0007b'),
      status: await fetch('/login', { method: 'POST', body: '' }).then((r) => r.status),
    }));
    assert.deepEqual(answers.me, { user: null });
    assert.deepEqual(answers.joinFirst, { error: 'log in first' });
    assert.deepEqual(answers.sayFirst, { error: 'log in first' });
    assert.deepEqual(answers.empty, { error: 'the name is empty' });
    assert.deepEqual(answers.long, { error: 'a name is at most 32 characters' });
    assert.deepEqual(answers.control, { error: 'the name has control characters' });
    assert.equal(answers.status, 400);
    assert.equal(await page.textContent('#notice'), 'the name has control characters');
    await setName(page, 'carol');
    await joinRoom(page, 'misc');
    const more = await page.evaluate(async () => ({
      blank: await window.chat.say('misc', '   '),
      long: await window.chat.say('misc', 'y'.repeat(2001)),
      twoWords: await window.chat.join('a b'),
      tooLongRoom: await window.chat.join('r'.repeat(41)),
      longest: await window.chat.say('misc', 'z'.repeat(2000)),
    }));
    assert.deepEqual(more.blank, { error: 'the message is empty' });
    assert.deepEqual(more.long, { error: 'a message is at most 2000 characters' });
    assert.deepEqual(more.twoWords, { error: 'a room name is one word' });
    assert.deepEqual(more.tooLongRoom, { error: 'room names are at most 40 bytes long' });
    assert.equal(more.longest, true);
    await waitLine(page, 'misc', 'z'.repeat(2000));
    // Another page with carol's cookie: logged in already (the session, not the page,
    // says who she is), and the server calls her messages carol's.
    const second = await openChat(page.context(), server.port);
    await second.waitForSelector('body[data-user="carol"]');
    assert.deepEqual(await second.evaluate(() => window.chat.join('misc')), ['misc']);
    assert.equal(await second.evaluate(() => window.chat.say('misc', 'me again')), true);
    await waitLine(page, 'misc', 'me again');
    const mine = (await received(page)).filter(([e]) => e === 'message').map(([, m]) => m).at(-1);
    assert.deepEqual(mine, { room: 'misc', user: 'carol', text: 'me again' });
    assert.deepEqual(second.pageErrors, []);
    await second.close();
    // Logging out: a new connection without a user, refused again.
    await page.evaluate(() => window.chat.logout());
    await page.waitForSelector('body:not([data-user])');
    await page.waitForSelector('body[data-state="open"]');
    assert.deepEqual(await page.evaluate(() => fetch('/me').then((r) => r.json())), { user: null });
    assert.deepEqual(await page.evaluate(() => window.chat.join('misc')), { error: 'log in first' });
    assert.deepEqual(page.pageErrors, []);
    await page.close();
  });

  it('messages reach their room only; say outside a room is refused; leaving is announced', async () => {
    const alice = await openChat(await newContext(), server.port);
    const bob = await openChat(await newContext(), server.port);

    await setName(alice, 'alice');
    await joinRoom(alice, 'rust');
    await joinRoom(alice, 'js');
    assert.deepEqual(await alice.evaluate(() => window.chat.me.rooms), ['rust', 'js']);
    await waitLine(alice, 'rust', 'you joined #rust');

    await setName(bob, 'bob');
    await joinRoom(bob, 'js');
    await waitLine(alice, 'js', 'bob joined');
    // Joining again is not news.
    assert.deepEqual(await bob.evaluate(() => window.chat.join('js')), ['js']);

    // alice in `rust`: she sees it, bob (not a member) does not.
    await sayIn(alice, 'rust', 'anyone here writing Rust?');
    await waitLine(alice, 'rust', 'anyone here writing Rust?');
    assert.equal(await alice.inputValue('#rooms .room[data-room="rust"] input.text'), '', 'the box is cleared once sent');

    // bob in `js`: both see it (the sender too), under his name.
    await sayIn(bob, 'js', 'hi from bob');
    await waitLine(bob, 'js', 'hi from bob');
    await waitLine(alice, 'js', 'hi from bob');
    assert.deepEqual((await roomLines(alice, 'js')).at(-1), 'msg bobhi from bob');
    // bob's event stream is in order: had the `rust` message reached him, it would be
    // before his own `js` one.
    const bobMessages = (await received(bob)).filter(([e]) => e === 'message').map(([, m]) => m);
    assert.deepEqual(bobMessages, [{ room: 'js', user: 'bob', text: 'hi from bob' }]);
    assert.equal(await roomLines(bob, 'rust'), null, 'bob has no rust room on his page');

    // bob in `rust` without joining: the ack is the error, nobody gets a message.
    const refused = await bob.evaluate(() => window.chat.say('rust', 'sneaking in'));
    assert.deepEqual(refused, { error: 'join the room first' });
    assert.equal(await bob.textContent('#notice'), 'join the room first');
    // A barrier: bob's next message reaches alice after anything his refused one caused.
    await sayIn(bob, 'js', 'ok, only js then');
    await waitLine(alice, 'js', 'ok, only js then');
    await waitLine(bob, 'js', 'ok, only js then');
    assert.equal(await bob.textContent('#notice'), '', 'the notice clears on success');
    for (const page of [alice, bob]) {
      const texts = (await received(page)).filter(([e]) => e === 'message').map(([, m]) => m.text);
      assert.ok(!texts.includes('sneaking in'), `${texts}`);
    }
    assert.deepEqual(
      (await received(alice)).filter(([e]) => e === 'message').map(([, m]) => m),
      [
        { room: 'rust', user: 'alice', text: 'anyone here writing Rust?' },
        { room: 'js', user: 'bob', text: 'hi from bob' },
        { room: 'js', user: 'bob', text: 'ok, only js then' },
      ],
    );

    // The rooms plugin's limit: 10 rooms per user, all or nothing.
    const limit = await bob.evaluate(async () => {
      const answers = [];
      for (let i = 1; i <= 10; i++) answers.push(await window.chat.join('room' + i));
      return answers;
    });
    assert.equal(limit.slice(0, 9).every(Array.isArray), true, JSON.stringify(limit));
    assert.deepEqual(limit[8].length, 10);
    assert.deepEqual(limit[9], { error: 'you can be in at most 10 rooms' });
    // Leaving one room through its button is told to the rest of the room.
    await bob.click('#rooms .room[data-room="room1"] button.leave');
    await bob.waitForFunction(() => !document.querySelector('#rooms .room[data-room="room1"]'));
    assert.equal((await bob.evaluate(() => window.chat.me.rooms)).includes('room1'), false);

    // bob closes his page: alice is told he left `js` (and only `js`: she is in no other
    // room of his).
    assert.deepEqual(bob.pageErrors, []);
    await bob.close();
    await waitLine(alice, 'js', 'bob left');
    const lefts = (await received(alice)).filter(([e]) => e === 'left').map(([, m]) => m);
    assert.deepEqual(lefts, [{ user: 'bob', room: 'js' }]);
    assert.ok(!(await roomLines(alice, 'rust')).some((l) => l.includes('bob')));

    await alice.focus('#rooms .room[data-room="rust"] input.text');
    await alice.fill('#rooms .room[data-room="rust"] input.text', 'see you');
    await alice.screenshot({ path: SCREENSHOT });

    // alice leaves `rust` with its button: the room goes from her page, `js` stays.
    await alice.click('#rooms .room[data-room="rust"] button.leave');
    await alice.waitForFunction(() => !document.querySelector('#rooms .room[data-room="rust"]'));
    assert.deepEqual(await alice.evaluate(() => window.chat.me.rooms), ['js']);
    await sleep(50);
    assert.deepEqual(alice.pageErrors, []);
    await alice.close();
  });
});
