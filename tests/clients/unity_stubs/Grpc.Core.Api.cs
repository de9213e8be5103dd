// API stand-in for Grpc.Core.Api 2.x (namespace Grpc.Core): the client-side surface that a
// grpc_csharp_plugin client and the Unity package use. Signatures follow the real assembly;
// bodies are `throw null` and never run.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;

namespace Grpc.Core
{
    public enum StatusCode
    {
        OK = 0,
        Cancelled = 1,
        Unknown = 2,
        InvalidArgument = 3,
        DeadlineExceeded = 4,
        NotFound = 5,
        AlreadyExists = 6,
        PermissionDenied = 7,
        Unauthenticated = 16,
        ResourceExhausted = 8,
        FailedPrecondition = 9,
        Aborted = 10,
        OutOfRange = 11,
        Unimplemented = 12,
        Internal = 13,
        Unavailable = 14,
        DataLoss = 15,
    }

    public struct Status
    {
        public static readonly Status DefaultSuccess;
        public static readonly Status DefaultCancelled;
        public Status(StatusCode statusCode, string detail) { throw null; }
        public Status(StatusCode statusCode, string detail, Exception debugException) { throw null; }
        public StatusCode StatusCode { get { throw null; } }
        public string Detail { get { throw null; } }
        public Exception DebugException { get { throw null; } }
    }

    public class RpcException : Exception
    {
        public RpcException(Status status) { throw null; }
        public RpcException(Status status, string message) { throw null; }
        public RpcException(Status status, Metadata trailers) { throw null; }
        public Status Status { get { throw null; } }
        public StatusCode StatusCode { get { throw null; } }
        public Metadata Trailers { get { throw null; } }
    }

    public sealed class Metadata : IList<Metadata.Entry>
    {
        public static readonly Metadata Empty;
        public Metadata() { throw null; }
        public void Add(string key, string value) { throw null; }
        public void Add(string key, byte[] valueBytes) { throw null; }
        public string GetValue(string key) { throw null; }
        public int IndexOf(Entry item) { throw null; }
        public void Insert(int index, Entry item) { throw null; }
        public void RemoveAt(int index) { throw null; }
        public Entry this[int index] { get { throw null; } set { throw null; } }
        public void Add(Entry item) { throw null; }
        public void Clear() { throw null; }
        public bool Contains(Entry item) { throw null; }
        public void CopyTo(Entry[] array, int arrayIndex) { throw null; }
        public int Count { get { throw null; } }
        public bool IsReadOnly { get { throw null; } }
        public bool Remove(Entry item) { throw null; }
        public IEnumerator<Entry> GetEnumerator() { throw null; }
        IEnumerator IEnumerable.GetEnumerator() { throw null; }

        public class Entry
        {
            public Entry(string key, string value) { throw null; }
            public string Key { get { throw null; } }
            public string Value { get { throw null; } }
        }
    }

    public enum MethodType
    {
        Unary,
        ClientStreaming,
        ServerStreaming,
        DuplexStreaming,
    }

    public interface IMethod
    {
        MethodType Type { get; }
        string ServiceName { get; }
        string Name { get; }
        string FullName { get; }
    }

    public abstract class SerializationContext
    {
        public virtual void Complete(byte[] payload) { throw null; }
    }

    public abstract class DeserializationContext
    {
        public abstract int PayloadLength { get; }
        public virtual byte[] PayloadAsNewBuffer() { throw null; }
    }

    public class Marshaller<T>
    {
        public Marshaller(Func<T, byte[]> serializer, Func<byte[], T> deserializer) { throw null; }
        public Marshaller(Action<T, SerializationContext> serializer, Func<DeserializationContext, T> deserializer) { throw null; }
        public Func<T, byte[]> Serializer { get { throw null; } }
        public Func<byte[], T> Deserializer { get { throw null; } }
    }

    // Both overloads, as in the real class: a lambda must pick one unambiguously.
    public static class Marshallers
    {
        public static Marshaller<T> Create<T>(Func<T, byte[]> serializer, Func<byte[], T> deserializer) { throw null; }
        public static Marshaller<T> Create<T>(Action<T, SerializationContext> serializer, Func<DeserializationContext, T> deserializer) { throw null; }
        public static Marshaller<string> StringMarshaller { get { throw null; } }
    }

    public class Method<TRequest, TResponse> : IMethod
    {
        public Method(MethodType type, string serviceName, string name, Marshaller<TRequest> requestMarshaller, Marshaller<TResponse> responseMarshaller) { throw null; }
        public MethodType Type { get { throw null; } }
        public string ServiceName { get { throw null; } }
        public string Name { get { throw null; } }
        public string FullName { get { throw null; } }
        public Marshaller<TRequest> RequestMarshaller { get { throw null; } }
        public Marshaller<TResponse> ResponseMarshaller { get { throw null; } }
    }

    public class WriteOptions
    {
        public WriteOptions() { throw null; }
    }

    public struct CallOptions
    {
        public CallOptions(Metadata headers = null, DateTime? deadline = null, CancellationToken cancellationToken = default(CancellationToken), WriteOptions writeOptions = null) { throw null; }
        public Metadata Headers { get { throw null; } }
        public DateTime? Deadline { get { throw null; } }
        public CancellationToken CancellationToken { get { throw null; } }
        public CallOptions WithDeadline(DateTime deadline) { throw null; }
        public CallOptions WithCancellationToken(CancellationToken cancellationToken) { throw null; }
        public CallOptions WithWaitForReady(bool waitForReady = true) { throw null; }
    }

    public interface IAsyncStreamReader<out T>
    {
        T Current { get; }
        Task<bool> MoveNext(CancellationToken cancellationToken);
    }

    public interface IAsyncStreamWriter<in T>
    {
        // The real interface adds WriteAsync(T, CancellationToken) as a default interface method
        // on netstandard2.1 only; Unity's API level may not have it, so it is left out here.
        Task WriteAsync(T message);
        WriteOptions WriteOptions { get; set; }
    }

    public interface IClientStreamWriter<in T> : IAsyncStreamWriter<T>
    {
        Task CompleteAsync();
    }

    public sealed class AsyncUnaryCall<TResponse> : IDisposable
    {
        private AsyncUnaryCall() { }
        public Task<TResponse> ResponseAsync { get { throw null; } }
        public Task<Metadata> ResponseHeadersAsync { get { throw null; } }
        public TaskAwaiter<TResponse> GetAwaiter() { throw null; }
        public ConfiguredTaskAwaitable<TResponse> ConfigureAwait(bool continueOnCapturedContext) { throw null; }
        public Status GetStatus() { throw null; }
        public Metadata GetTrailers() { throw null; }
        public void Dispose() { throw null; }
    }

    public sealed class AsyncServerStreamingCall<TResponse> : IDisposable
    {
        private AsyncServerStreamingCall() { }
        public IAsyncStreamReader<TResponse> ResponseStream { get { throw null; } }
        public Status GetStatus() { throw null; }
        public void Dispose() { throw null; }
    }

    public sealed class AsyncClientStreamingCall<TRequest, TResponse> : IDisposable
    {
        private AsyncClientStreamingCall() { }
        public Task<TResponse> ResponseAsync { get { throw null; } }
        public IClientStreamWriter<TRequest> RequestStream { get { throw null; } }
        public TaskAwaiter<TResponse> GetAwaiter() { throw null; }
        public Status GetStatus() { throw null; }
        public void Dispose() { throw null; }
    }

    public sealed class AsyncDuplexStreamingCall<TRequest, TResponse> : IDisposable
    {
        private AsyncDuplexStreamingCall() { }
        public IAsyncStreamReader<TResponse> ResponseStream { get { throw null; } }
        public IClientStreamWriter<TRequest> RequestStream { get { throw null; } }
        public Task<Metadata> ResponseHeadersAsync { get { throw null; } }
        public Status GetStatus() { throw null; }
        public Metadata GetTrailers() { throw null; }
        public void Dispose() { throw null; }
    }

    public abstract class CallInvoker
    {
        public abstract TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string host, CallOptions options, TRequest request) where TRequest : class where TResponse : class;
        public abstract AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string host, CallOptions options, TRequest request) where TRequest : class where TResponse : class;
        public abstract AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string host, CallOptions options, TRequest request) where TRequest : class where TResponse : class;
        public abstract AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string host, CallOptions options) where TRequest : class where TResponse : class;
        public abstract AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string host, CallOptions options) where TRequest : class where TResponse : class;
    }

    public abstract class ChannelBase
    {
        protected ChannelBase(string target) { throw null; }
        public string Target { get { throw null; } }
        public abstract CallInvoker CreateCallInvoker();
        public Task ShutdownAsync() { throw null; }
    }

    public abstract class ClientBase
    {
        protected ClientBase() { throw null; }
        protected ClientBase(ClientBaseConfiguration configuration) { throw null; }
        public ClientBase(ChannelBase channel) { throw null; }
        public ClientBase(CallInvoker callInvoker) { throw null; }
        protected CallInvoker CallInvoker { get { throw null; } }

        protected internal class ClientBaseConfiguration
        {
            internal ClientBaseConfiguration() { }
        }
    }

    public abstract class ClientBase<T> : ClientBase where T : ClientBase<T>
    {
        protected ClientBase() { throw null; }
        protected ClientBase(ClientBaseConfiguration configuration) { throw null; }
        public ClientBase(ChannelBase channel) { throw null; }
        public ClientBase(CallInvoker callInvoker) { throw null; }
        public T WithHost(string host) { throw null; }
        protected abstract T NewInstance(ClientBaseConfiguration configuration);
    }
}
