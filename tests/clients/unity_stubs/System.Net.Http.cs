// API stand-in for System.Net.Http (Unity's .NET Standard 2.1 profile has the real one;
// Debian's mono-mcs ships no System.Net.Http.dll). Only the base type handlers derive from.
using System;

namespace System.Net.Http
{
    public abstract class HttpMessageHandler : IDisposable
    {
        protected HttpMessageHandler() { throw null; }
        public void Dispose() { throw null; }
        protected virtual void Dispose(bool disposing) { throw null; }
    }

    public class HttpClient : IDisposable
    {
        public HttpClient(HttpMessageHandler handler) { throw null; }
        public void Dispose() { throw null; }
    }
}
