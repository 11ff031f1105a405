/**
 * Tests for src/registry/transport/proxy.ts: the proxy choice per URL, by the rules of Go's
 * `http.ProxyFromEnvironment` (golang.org/x/net `http/httpproxy`, as in Go 1.19). The cases are our
 * own, written from the behaviour (and checked against skopeo 1.9.3 where test/integration/
 * fetch-proxy.test.ts runs both); where ocikit is stricter than Go, the case says so.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideProxy,
  describeProxy,
  formatProxy,
  parseProxy,
  proxyAuthorization,
  proxyFor,
  redactedProxy,
} from '../../../src/registry/transport/proxy.js';

const P = 'http://proxy.test:3128';

/** [target URL, environment, expected proxy URL (undefined: direct)] */
const CHOICES: readonly (readonly [string, NodeJS.ProcessEnv, string | undefined])[] = [
  // which variable
  ['https://reg.test/v2/', {}, undefined],
  ['https://reg.test/v2/', { HTTPS_PROXY: P }, 'http://proxy.test:3128'],
  ['https://reg.test/v2/', { https_proxy: P }, 'http://proxy.test:3128'],
  ['https://reg.test/v2/', { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2' }, 'http://upper:1'],
  ['https://reg.test/v2/', { HTTPS_PROXY: '', https_proxy: 'http://lower:2' }, 'http://lower:2'],
  ['https://reg.test/v2/', { HTTP_PROXY: P }, undefined],
  ['http://reg.test/v2/', { HTTP_PROXY: P }, 'http://proxy.test:3128'],
  ['http://reg.test/v2/', { http_proxy: P }, 'http://proxy.test:3128'],
  ['http://reg.test/v2/', { HTTPS_PROXY: P }, undefined],
  ['http://reg.test/v2/', { HTTP_PROXY: '', http_proxy: '' }, undefined],
  // the value: no scheme means http://; default ports; path ignored; scheme case-insensitive
  ['https://reg.test/', { HTTPS_PROXY: 'proxy.test:3128' }, 'http://proxy.test:3128'],
  ['https://reg.test/', { HTTPS_PROXY: 'proxy.test' }, 'http://proxy.test:80'],
  ['https://reg.test/', { HTTPS_PROXY: '10.1.2.3:8080' }, 'http://10.1.2.3:8080'],
  ['https://reg.test/', { HTTPS_PROXY: '[fd00::1]:8080' }, 'http://[fd00::1]:8080'],
  ['https://reg.test/', { HTTPS_PROXY: 'https://proxy.test' }, 'https://proxy.test:443'],
  ['https://reg.test/', { HTTPS_PROXY: 'HTTP://Proxy.Test:9/some/path?q#f' }, 'http://proxy.test:9'],
  ['https://reg.test/', { HTTPS_PROXY: 'http://proxy.test:' }, 'http://proxy.test:80'],
  ['https://reg.test/', { HTTPS_PROXY: 'http://u%40x:p%3Aw@proxy.test:1' }, 'http://u%40x:p%3Aw@proxy.test:1'],
  // never proxied: localhost and loopback addresses, whatever NO_PROXY says
  ['https://localhost:5000/', { HTTPS_PROXY: P }, undefined],
  ['http://localhost/', { HTTP_PROXY: P }, undefined],
  ['https://127.0.0.1:5000/', { HTTPS_PROXY: P }, undefined],
  ['https://127.200.3.4/', { HTTPS_PROXY: P }, undefined],
  ['https://[::1]:5000/', { HTTPS_PROXY: P }, undefined],
  ['https://[::ffff:127.0.0.9]/', { HTTPS_PROXY: P }, undefined],
  ['https://localhost.reg.test/', { HTTPS_PROXY: P }, 'http://proxy.test:3128'],
  ['https://128.0.0.1/', { HTTPS_PROXY: P }, 'http://proxy.test:3128'],
  ['https://[::2]/', { HTTPS_PROXY: P }, 'http://proxy.test:3128'],
  // NO_PROXY: *
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: '*' }, undefined],
  ['https://reg.test/', { HTTPS_PROXY: P, no_proxy: 'other.test, *' }, undefined],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: '', no_proxy: '*' }, undefined],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: 'other.test', no_proxy: '*' }, 'http://proxy.test:3128'],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: '*.' }, 'http://proxy.test:3128'],
  // NO_PROXY: domain names (the name and its subdomains), a leading dot or *. (subdomains only)
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: 'reg.test' }, undefined],
  ['https://a.b.reg.test/', { HTTPS_PROXY: P, NO_PROXY: 'reg.test' }, undefined],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: 'test' }, undefined],
  ['https://xreg.test/', { HTTPS_PROXY: P, NO_PROXY: 'reg.test' }, 'http://proxy.test:3128'],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: '.reg.test' }, 'http://proxy.test:3128'],
  ['https://sub.reg.test/', { HTTPS_PROXY: P, NO_PROXY: '.reg.test' }, undefined],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: '*.reg.test' }, 'http://proxy.test:3128'],
  ['https://sub.reg.test/', { HTTPS_PROXY: P, NO_PROXY: '*.reg.test' }, undefined],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: '  REG.Test  ,other' }, undefined],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: 'reg.test.' }, 'http://proxy.test:3128'],
  // NO_PROXY: ports (the URL's port defaults to 443 / 80)
  ['https://reg.test:5000/', { HTTPS_PROXY: P, NO_PROXY: 'reg.test:5000' }, undefined],
  ['https://reg.test:5001/', { HTTPS_PROXY: P, NO_PROXY: 'reg.test:5000' }, 'http://proxy.test:3128'],
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: 'reg.test:443' }, undefined],
  ['http://reg.test/', { HTTP_PROXY: P, NO_PROXY: 'reg.test:443' }, 'http://proxy.test:3128'],
  ['http://reg.test/', { HTTP_PROXY: P, NO_PROXY: 'reg.test:80' }, undefined],
  ['https://reg.test:5000/', { HTTPS_PROXY: P, NO_PROXY: 'reg.test:' }, undefined], // an empty port: any port
  // NO_PROXY: IP addresses and CIDRs; an IPv4 address equals its IPv4-mapped IPv6 form
  ['https://10.0.0.7/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.7' }, undefined],
  ['https://10.0.0.7/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.8' }, 'http://proxy.test:3128'],
  ['https://10.0.0.7:5000/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.7:5000' }, undefined],
  ['https://10.0.0.7:5000/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.7:5001' }, 'http://proxy.test:3128'],
  ['https://10.0.0.7/', { HTTPS_PROXY: P, NO_PROXY: '::ffff:10.0.0.7' }, undefined],
  ['https://10.9.8.7/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.0/8' }, undefined],
  ['https://11.9.8.7/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.0/8' }, 'http://proxy.test:3128'],
  ['https://192.168.1.200/', { HTTPS_PROXY: P, NO_PROXY: '192.168.1.128/25' }, undefined],
  ['https://192.168.1.100/', { HTTPS_PROXY: P, NO_PROXY: '192.168.1.128/25' }, 'http://proxy.test:3128'],
  ['https://[fd00::5]/', { HTTPS_PROXY: P, NO_PROXY: 'fd00::/16' }, undefined],
  ['https://[fd01::5]/', { HTTPS_PROXY: P, NO_PROXY: 'fd00::/16' }, 'http://proxy.test:3128'],
  ['https://[fd00::5]:5000/', { HTTPS_PROXY: P, NO_PROXY: '[fd00::5]:5000' }, undefined],
  ['https://[fd00::5]/', { HTTPS_PROXY: P, NO_PROXY: 'FD00:0::5' }, undefined],
  ['https://10.0.0.7/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.0/33' }, 'http://proxy.test:3128'],
  // an IP CIDR never matches a name; a domain entry also applies to an IP's text (as in Go)
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: '0.0.0.0/0' }, 'http://proxy.test:3128'],
  ['https://10.0.0.7/', { HTTPS_PROXY: P, NO_PROXY: '0.7' }, undefined],
  // non-ASCII NO_PROXY names are compared in their ASCII (punycode) form
  ['https://xn--bcher-kva.test/', { HTTPS_PROXY: P, NO_PROXY: 'bücher.test' }, undefined],
  // malformed entries are ignored
  ['https://reg.test/', { HTTPS_PROXY: P, NO_PROXY: ':5000,[::1,,' }, 'http://proxy.test:3128'],
  // the CGI rule is only about HTTP_PROXY
  ['https://reg.test/', { HTTPS_PROXY: P, REQUEST_METHOD: 'GET' }, 'http://proxy.test:3128'],
  ['http://reg.test/', { REQUEST_METHOD: 'GET' }, undefined],
];

describe('proxyFor', () => {
  for (const [url, env, want] of CHOICES) {
    it(`${url} with ${JSON.stringify(env)} → ${want ?? 'direct'}`, () => {
      assert.equal(proxyFor(new URL(url), env), want);
    });
  }

  it('refuses HTTP_PROXY for http URLs in a CGI environment (REQUEST_METHOD set), even for localhost', () => {
    for (const url of ['http://reg.test/', 'http://localhost/']) {
      assert.throws(() => proxyFor(new URL(url), { HTTP_PROXY: P, REQUEST_METHOD: 'POST' }), {
        code: 'CONFIG',
        message: /HTTP_PROXY: refused in a CGI environment/,
      });
    }
  });

  it('refuses a socks5 proxy with UNSUPPORTED instead of connecting directly', () => {
    assert.throws(() => proxyFor(new URL('https://reg.test/'), { HTTPS_PROXY: 'socks5://proxy.test' }), {
      code: 'UNSUPPORTED',
      message: /HTTPS_PROXY: socks5 proxies are not supported/,
    });
  });

  // Go ignores these values (a direct connection) or dials a nonsense address; ocikit refuses them.
  const invalid = [
    'ftp://proxy.test:21',
    'proxy.test:abc',
    'http://%zz@proxy.test',
    'http://us er:pw@proxy.test',
    'http://[::1',
    'http://[1.2.3.4]:80',
    '%zz',
    '//proxy.test',
    ' http://proxy.test',
    'http://',
    'http://proxy.test:70000',
    'http://a:b:80',
    'http:proxy.test',
  ];
  for (const value of invalid) {
    it(`refuses the proxy value ${JSON.stringify(value)} with CONFIG naming the variable, not the value`, () => {
      assert.throws(
        () => proxyFor(new URL('https://reg.test/'), { https_proxy: value }),
        (e: Error & { code: string }) => {
          assert.equal(e.code, 'CONFIG');
          assert.match(e.message, /^proxy setting https_proxy: /);
          assert.ok(!e.message.includes('zz') && !e.message.includes('er:pw'), e.message);
          return true;
        },
      );
    });
  }

  it('does not read a proxy value that does not apply (NO_PROXY, loopback, the other scheme)', () => {
    assert.equal(proxyFor(new URL('https://reg.test/'), { HTTPS_PROXY: '%zz', NO_PROXY: 'reg.test' }), undefined);
    assert.equal(proxyFor(new URL('https://127.0.0.1/'), { HTTPS_PROXY: '%zz' }), undefined);
    assert.equal(proxyFor(new URL('https://reg.test/'), { HTTP_PROXY: '%zz' }), undefined);
  });
});

describe('parseProxy', () => {
  it('percent-decodes the user name and password; a user without a password has an empty one for Basic', () => {
    const s = parseProxy('http://al%20ice:p%40ss%3Aw%2Frd+@proxy.test:3128', 'X');
    assert.deepEqual({ user: s.username, pass: s.password }, { user: 'al ice', pass: 'p@ss:w/rd+' });
    assert.equal(proxyAuthorization(s), `Basic ${Buffer.from('al ice:p@ss:w/rd+').toString('base64')}`);
    const u = parseProxy('http://alice@proxy.test', 'X');
    assert.equal(u.password, undefined);
    assert.equal(proxyAuthorization(u), `Basic ${Buffer.from('alice:').toString('base64')}`);
    assert.equal(proxyAuthorization(parseProxy('http://proxy.test', 'X')), undefined);
  });

  it('round-trips through formatProxy, and redacts only the password', () => {
    const s = parseProxy('http://a%2Fb:%F0%9F%94%91!@proxy.test:1', 'X');
    assert.deepEqual(parseProxy(formatProxy(s), 'X'), s);
    assert.equal(redactedProxy(s), 'http://a%2Fb:xxxxx@proxy.test:1');
    assert.equal(redactedProxy(parseProxy('http://alice@proxy.test', 'X')), 'http://alice@proxy.test:80');
  });
});

describe('describeProxy', () => {
  it('names the variable and redacts the password', () => {
    assert.deepEqual(describeProxy(new URL('https://reg.test/'), { https_proxy: 'http://u:secret@p.test:1' }), {
      proxy: 'http://u:xxxxx@p.test:1',
      variable: 'https_proxy',
      reason: 'https_proxy applies',
    });
  });

  it('says why a request goes direct', () => {
    assert.match(describeProxy(new URL('https://reg.test/'), {}).reason, /HTTPS_PROXY and https_proxy unset/);
    assert.match(describeProxy(new URL('https://[::1]/'), { HTTPS_PROXY: P }).reason, /never proxied/);
    assert.equal(
      describeProxy(new URL('https://a.reg.test/'), { HTTPS_PROXY: P, no_proxy: 'x, .Reg.test:443' }).reason,
      'no_proxy entry ".reg.test:443" matches',
    );
  });

  it('reports a refused setting as its error, without throwing and without the password', () => {
    const d = describeProxy(new URL('https://reg.test/'), { HTTPS_PROXY: 'socks5://u:secret@p.test' });
    assert.equal(d.proxy, undefined);
    assert.equal(d.error?.code, 'UNSUPPORTED');
    assert.ok(!JSON.stringify(d).includes('secret'));
  });

  it('decideProxy and proxyFor agree', () => {
    for (const [url, env, want] of CHOICES) {
      const d = decideProxy(new URL(url), env);
      assert.equal(d.proxy === undefined ? undefined : formatProxy(d.proxy), want);
    }
  });
});
