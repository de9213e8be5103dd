// API stand-in for Cysharp's YetAnotherHttpHandler 1.11 (OpenUPM com.cysharp.yetanotherhttphandler):
// the HTTP/2 handler that gives Unity's HttpClient, and so Grpc.Net.Client, HTTP/2 and h2c.
using System;
using System.Net.Http;

namespace Cysharp.Net.Http
{
    public class YetAnotherHttpHandler : HttpMessageHandler
    {
        public YetAnotherHttpHandler() { throw null; }
        public TimeSpan? PoolIdleTimeout { get { throw null; } set { throw null; } }
        public bool? Http2Only { get { throw null; } set { throw null; } }
        public bool? SkipCertificateVerification { get { throw null; } set { throw null; } }
        public string RootCertificates { get { throw null; } set { throw null; } }
        public TimeSpan? Http2KeepAliveInterval { get { throw null; } set { throw null; } }
        public TimeSpan? Http2KeepAliveTimeout { get { throw null; } set { throw null; } }
    }
}
