package io.iqa.server;

import io.iqa.protocol.Text;
import io.iqa.protocol.config.ConfigException;
import io.iqa.protocol.wire.ErrorCode;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.HashSet;

/**
 * Which requests a server takes at all, before any route sees them: the rules that keep a web page
 * in a browser on the same host from acting on the server (both servers bind 127.0.0.1 with auth
 * off by default, which any page could otherwise reach). A page of another origin can send a
 * "simple" request without asking first (a CORS preflight): GET, HEAD or POST with no custom
 * header and a body of type {@code text/plain}, {@code application/x-www-form-urlencoded} or
 * {@code multipart/form-data}. So:
 * <ul>
 *   <li>only GET, HEAD and POST are taken (405 otherwise, OPTIONS and TRACE included: no preflight
 *       is ever granted);</li>
 *   <li>a POST must carry a {@code Content-Type} a page cannot send without a preflight (for JSON:
 *       {@code application/json}), or an {@code Authorization} header: 415 for the three simple
 *       types, 403 for a POST with neither;</li>
 *   <li>a POST with an {@code Origin} must come from the server's own origin (the operator page) or
 *       one in {@code allowed_origins}: 403;</li>
 *   <li>the {@code Host} must be one a DNS-rebinding page cannot send: an IP address, a name without
 *       a dot ({@code localhost}, a container or service name), the address the server listens on,
 *       or a name in {@code allowed_hosts} ({@code "*"} takes any): 403 (this guards GETs too,
 *       status and events);</li>
 *   <li>a request line with a broken percent-escape is a 400, not a 500.</li>
 * </ul>
 *
 * @param allowedHosts names (lowercase) the server may also be reached by, or {@code *}
 * @param allowedOrigins origins ({@code https://ops.example:8443}) whose pages may POST
 */
public record RequestPolicy(Set<String> allowedHosts, Set<String> allowedOrigins) {

  /** The methods a server takes; what {@code Allow} says on a 405. */
  public static final String ALLOW = "GET, HEAD, POST";

  private static final Set<String> SIMPLE_TYPES = Set.of("text/plain", "application/x-www-form-urlencoded",
      "multipart/form-data");
  private static final Pattern BAD_ESCAPE = Pattern.compile("%(?![0-9A-Fa-f]{2})");
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
  private static final Pattern IPV6 = Pattern.compile("[0-9a-f:.]*:[0-9a-f:.]*");
  private static final Pattern HOST_NAME = Pattern.compile("[a-z0-9*]([a-z0-9.-]{0,251}[a-z0-9])?");
  private static final Pattern ORIGIN = Pattern.compile("https?://[^/?#\\s]+");

  public RequestPolicy {
    allowedHosts = Set.copyOf(allowedHosts);
    allowedOrigins = Set.copyOf(allowedOrigins);
  }

  /** Nothing but the built-in rules. */
  public static RequestPolicy defaults() {
    return new RequestPolicy(Set.of(), Set.of());
  }

  /** Checks the {@code allowed_hosts} and {@code allowed_origins} of a server's config (null: none). */
  public static RequestPolicy of(List<String> hosts, List<String> origins) {
    Set<String> h = new HashSet<>();
    for (String host : hosts == null ? List.<String>of() : hosts) {
      if (!host.equals("*") && !HOST_NAME.matcher(host.toLowerCase(Locale.ROOT)).matches()) {
        throw new ConfigException("allowed_hosts holds host names (no port, no scheme) or \"*\", not '"
            + Text.printable(host, 100) + "'");
      }
      h.add(host.toLowerCase(Locale.ROOT));
    }
    Set<String> o = new HashSet<>();
    for (String origin : origins == null ? List.<String>of() : origins) {
      if (!ORIGIN.matcher(origin).matches()) {
        throw new ConfigException("allowed_origins holds origins such as https://ops.example:8443 (scheme, host, "
            + "port; no path), not '" + Text.printable(origin, 100) + "'");
      }
      o.add(origin.toLowerCase(Locale.ROOT));
    }
    return new RequestPolicy(h, o);
  }

  /**
   * @param listenHost the address the server listens on
   * @return why {@code req} is refused before routing, or null when it may go on
   */
  public HttpError check(HttpServerRequest req, String listenHost) {
    HttpMethod m = req.method();
    if (m != HttpMethod.GET && m != HttpMethod.HEAD && m != HttpMethod.POST) {
      return new HttpError(ErrorCode.METHOD_NOT_ALLOWED, m + " is not taken here (only " + ALLOW + ")");
    }
    if (BAD_ESCAPE.matcher(req.uri()).find()) {
      return HttpError.badRequest("the request line holds a '%' that does not start an escape (%XX)");
    }
    String hostHeader = req.getHeader("Host");
    if (hostHeader != null && !hostAllowed(hostOf(hostHeader), listenHost)) {
      return new HttpError(ErrorCode.FORBIDDEN, "Host '" + Text.printable(hostHeader, 100) + "' is not a name this "
          + "server answers to (a page that renamed itself to reach it?); add it to allowed_hosts if it is yours");
    }
    if (m != HttpMethod.POST) {
      return null;
    }
    String origin = req.getHeader("Origin");
    if (origin != null && !originAllowed(origin.trim().toLowerCase(Locale.ROOT), hostHeader)) {
      return new HttpError(ErrorCode.FORBIDDEN, "a POST from the web page at '" + Text.printable(origin, 100)
          + "' is refused: only this server's own pages (and allowed_origins) may send one");
    }
    String type = mediaType(req.getHeader("Content-Type"));
    if (type != null && SIMPLE_TYPES.contains(type)) {
      return new HttpError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Content-Type " + type + " is refused (any web page can "
          + "send it): send JSON as application/json");
    }
    if (type == null && req.getHeader("Authorization") == null) {
      return new HttpError(ErrorCode.FORBIDDEN, "a POST needs a Content-Type (application/json; an image's own type "
          + "for /infer) or an Authorization header: without either, any web page could send it");
    }
    return null;
  }

  /** @return {@code Content-Type}'s media type, lowercase, without parameters; null when absent or blank */
  public static String mediaType(String contentType) {
    if (contentType == null) {
      return null;
    }
    int semi = contentType.indexOf(';');
    String t = (semi < 0 ? contentType : contentType.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
    return t.isEmpty() ? null : t;
  }

  private boolean hostAllowed(String host, String listenHost) {
    if (allowedHosts.contains("*") || host.isEmpty()) {
      return true;
    }
    return host.equals(listenHost.toLowerCase(Locale.ROOT)) || host.indexOf('.') < 0 || IPV6.matcher(host).matches()
        || IPV4.matcher(host).matches() || allowedHosts.contains(host);
  }

  private boolean originAllowed(String origin, String hostHeader) {
    if (allowedOrigins.contains(origin)) {
      return true;
    }
    if (hostHeader == null) {
      return false;
    }
    String own = hostHeader.trim().toLowerCase(Locale.ROOT);
    return origin.equals("http://" + own) || origin.equals("https://" + own);
  }

  /** @return the name in a Host header, lowercase, without its port ({@code [::1]:8470} gives {@code ::1}) */
  static String hostOf(String hostHeader) {
    String h = hostHeader.trim().toLowerCase(Locale.ROOT);
    if (h.startsWith("[")) {
      int close = h.indexOf(']');
      return close < 0 ? h : h.substring(1, close);
    }
    int colon = h.lastIndexOf(':');
    return colon < 0 ? h : h.substring(0, colon);
  }
}
