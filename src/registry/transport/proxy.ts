/**
 * The proxy choice of the registry client: which proxy, if any, a request to a URL goes through.
 * Not implemented yet: every request goes direct (the registry host configuration issue brings
 * Go's `http.ProxyFromEnvironment` rules here).
 */

/**
 * The proxy URL for a request to `target` under environment `env`, or undefined to connect
 * directly. Always undefined for now.
 */
export function proxyFor(_target: URL, _env: NodeJS.ProcessEnv): string | undefined {
  return undefined;
}
