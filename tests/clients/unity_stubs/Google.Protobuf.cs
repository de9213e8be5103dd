// API stand-in for Google.Protobuf 3.2x (the NuGet package, netstandard2.0): only the
// signatures that protoc's --csharp_out code and the Unity package use, with no behaviour.
// Compiled to Google.Protobuf.dll so `mcs` checks the generated messages and the client
// against the real shapes (names, parameter types, ref structs, explicit interfaces).
// Bodies are `throw null`: nothing here ever runs.
using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Google.Protobuf.Collections;
using Google.Protobuf.Reflection;

namespace Google.Protobuf
{
    public interface IMessage
    {
        void MergeFrom(CodedInputStream input);
        void WriteTo(CodedOutputStream output);
        int CalculateSize();
        MessageDescriptor Descriptor { get; }
    }

    public interface IDeepCloneable<T>
    {
        T Clone();
    }

    public interface IMessage<T> : IMessage, IEquatable<T>, IDeepCloneable<T> where T : IMessage<T>
    {
        void MergeFrom(T message);
    }

    public interface IBufferMessage : IMessage
    {
        void InternalMergeFrom(ref ParseContext ctx);
        void InternalWriteTo(ref WriteContext ctx);
    }

    public ref struct ParseContext
    {
        public uint ReadTag() { throw null; }
        public double ReadDouble() { throw null; }
        public float ReadFloat() { throw null; }
        public ulong ReadUInt64() { throw null; }
        public long ReadInt64() { throw null; }
        public int ReadInt32() { throw null; }
        public ulong ReadFixed64() { throw null; }
        public uint ReadFixed32() { throw null; }
        public bool ReadBool() { throw null; }
        public string ReadString() { throw null; }
        public void ReadMessage(IMessage message) { throw null; }
        public ByteString ReadBytes() { throw null; }
        public uint ReadUInt32() { throw null; }
        public int ReadEnum() { throw null; }
        public int ReadSFixed32() { throw null; }
        public long ReadSFixed64() { throw null; }
        public int ReadSInt32() { throw null; }
        public long ReadSInt64() { throw null; }
    }

    public ref struct WriteContext
    {
        public void WriteDouble(double value) { throw null; }
        public void WriteFloat(float value) { throw null; }
        public void WriteUInt64(ulong value) { throw null; }
        public void WriteInt64(long value) { throw null; }
        public void WriteInt32(int value) { throw null; }
        public void WriteFixed64(ulong value) { throw null; }
        public void WriteFixed32(uint value) { throw null; }
        public void WriteBool(bool value) { throw null; }
        public void WriteString(string value) { throw null; }
        public void WriteMessage(IMessage value) { throw null; }
        public void WriteBytes(ByteString value) { throw null; }
        public void WriteUInt32(uint value) { throw null; }
        public void WriteEnum(int value) { throw null; }
        public void WriteSFixed32(int value) { throw null; }
        public void WriteSFixed64(long value) { throw null; }
        public void WriteSInt32(int value) { throw null; }
        public void WriteSInt64(long value) { throw null; }
        public void WriteRawTag(byte b1) { throw null; }
        public void WriteRawTag(byte b1, byte b2) { throw null; }
        public void WriteRawTag(byte b1, byte b2, byte b3) { throw null; }
        public void WriteRawTag(byte b1, byte b2, byte b3, byte b4) { throw null; }
        public void WriteRawTag(byte b1, byte b2, byte b3, byte b4, byte b5) { throw null; }
    }

    public sealed class CodedInputStream : IDisposable
    {
        public CodedInputStream(byte[] buffer) { throw null; }
        public CodedInputStream(Stream input) { throw null; }
        public void ReadRawMessage(IMessage message) { throw null; }
        public uint ReadTag() { throw null; }
        public double ReadDouble() { throw null; }
        public float ReadFloat() { throw null; }
        public ulong ReadUInt64() { throw null; }
        public long ReadInt64() { throw null; }
        public int ReadInt32() { throw null; }
        public bool ReadBool() { throw null; }
        public string ReadString() { throw null; }
        public void ReadMessage(IMessage builder) { throw null; }
        public ByteString ReadBytes() { throw null; }
        public uint ReadUInt32() { throw null; }
        public int ReadEnum() { throw null; }
        public void Dispose() { throw null; }
    }

    public sealed class CodedOutputStream : IDisposable
    {
        public CodedOutputStream(byte[] flatArray) { throw null; }
        public CodedOutputStream(Stream output) { throw null; }
        public static int ComputeDoubleSize(double value) { throw null; }
        public static int ComputeFloatSize(float value) { throw null; }
        public static int ComputeUInt64Size(ulong value) { throw null; }
        public static int ComputeInt64Size(long value) { throw null; }
        public static int ComputeInt32Size(int value) { throw null; }
        public static int ComputeFixed64Size(ulong value) { throw null; }
        public static int ComputeFixed32Size(uint value) { throw null; }
        public static int ComputeBoolSize(bool value) { throw null; }
        public static int ComputeStringSize(string value) { throw null; }
        public static int ComputeMessageSize(IMessage value) { throw null; }
        public static int ComputeBytesSize(ByteString value) { throw null; }
        public static int ComputeUInt32Size(uint value) { throw null; }
        public static int ComputeEnumSize(int value) { throw null; }
        public static int ComputeSInt32Size(int value) { throw null; }
        public static int ComputeSInt64Size(long value) { throw null; }
        public void WriteRawMessage(IMessage value) { throw null; }
        public void WriteRawTag(byte b1) { throw null; }
        public void WriteRawTag(byte b1, byte b2) { throw null; }
        public void WriteDouble(double value) { throw null; }
        public void WriteFloat(float value) { throw null; }
        public void WriteUInt64(ulong value) { throw null; }
        public void WriteInt64(long value) { throw null; }
        public void WriteInt32(int value) { throw null; }
        public void WriteBool(bool value) { throw null; }
        public void WriteString(string value) { throw null; }
        public void WriteMessage(IMessage value) { throw null; }
        public void WriteBytes(ByteString value) { throw null; }
        public void WriteUInt32(uint value) { throw null; }
        public void WriteEnum(int value) { throw null; }
        public void Flush() { throw null; }
        public void Dispose() { throw null; }
    }

    public sealed class ByteString : IEnumerable<byte>, IEquatable<ByteString>
    {
        private ByteString() { }
        public static ByteString Empty { get { throw null; } }
        public int Length { get { throw null; } }
        public bool IsEmpty { get { throw null; } }
        public byte this[int index] { get { throw null; } }
        public byte[] ToByteArray() { throw null; }
        public string ToBase64() { throw null; }
        public string ToStringUtf8() { throw null; }
        public string ToString(Encoding encoding) { throw null; }
        public void CopyTo(byte[] array, int position) { throw null; }
        public void WriteTo(Stream outputStream) { throw null; }
        public static ByteString CopyFrom(params byte[] bytes) { throw null; }
        public static ByteString CopyFrom(byte[] bytes, int offset, int count) { throw null; }
        public static ByteString CopyFrom(string text, Encoding encoding) { throw null; }
        public static ByteString CopyFromUtf8(string text) { throw null; }
        public static ByteString FromBase64(string bytes) { throw null; }
        public static bool operator ==(ByteString lhs, ByteString rhs) { throw null; }
        public static bool operator !=(ByteString lhs, ByteString rhs) { throw null; }
        public override bool Equals(object obj) { throw null; }
        public bool Equals(ByteString other) { throw null; }
        public override int GetHashCode() { throw null; }
        public IEnumerator<byte> GetEnumerator() { throw null; }
        IEnumerator IEnumerable.GetEnumerator() { throw null; }
    }

    public abstract class MessageParser
    {
        internal MessageParser() { }
        public IMessage ParseFrom(byte[] data) { throw null; }
    }

    public sealed class MessageParser<T> : MessageParser where T : IMessage<T>
    {
        public MessageParser(Func<T> factory) { throw null; }
        public new T ParseFrom(byte[] data) { throw null; }
        public T ParseFrom(byte[] data, int offset, int length) { throw null; }
        public T ParseFrom(ByteString data) { throw null; }
        public T ParseFrom(Stream input) { throw null; }
        public T ParseFrom(CodedInputStream input) { throw null; }
        public T ParseJson(string json) { throw null; }
    }

    public static class ProtoPreconditions
    {
        public static T CheckNotNull<T>(T value, string name) where T : class { throw null; }
    }

    public sealed class UnknownFieldSet
    {
        private UnknownFieldSet() { }
        public void WriteTo(CodedOutputStream output) { throw null; }
        public void WriteTo(ref WriteContext ctx) { throw null; }
        public int CalculateSize() { throw null; }
        public static UnknownFieldSet MergeFieldFrom(UnknownFieldSet unknownFields, CodedInputStream input) { throw null; }
        public static UnknownFieldSet MergeFieldFrom(UnknownFieldSet unknownFields, ref ParseContext ctx) { throw null; }
        public static UnknownFieldSet MergeFrom(UnknownFieldSet unknownFields, UnknownFieldSet other) { throw null; }
        public static UnknownFieldSet Clone(UnknownFieldSet other) { throw null; }
    }

    public sealed class JsonFormatter
    {
        public static string ToDiagnosticString(IMessage message) { throw null; }
    }

    public sealed class Extension
    {
        private Extension() { }
    }

    public sealed class FieldCodec<T>
    {
        private FieldCodec() { }
    }

    public static class FieldCodec
    {
        public static FieldCodec<string> ForString(uint tag) { throw null; }
        public static FieldCodec<ByteString> ForBytes(uint tag) { throw null; }
        public static FieldCodec<bool> ForBool(uint tag) { throw null; }
        public static FieldCodec<int> ForInt32(uint tag) { throw null; }
        public static FieldCodec<uint> ForUInt32(uint tag) { throw null; }
        public static FieldCodec<long> ForInt64(uint tag) { throw null; }
        public static FieldCodec<ulong> ForUInt64(uint tag) { throw null; }
        public static FieldCodec<float> ForFloat(uint tag) { throw null; }
        public static FieldCodec<double> ForDouble(uint tag) { throw null; }
        public static FieldCodec<T> ForEnum<T>(uint tag, Func<T, int> toInt32, Func<int, T> fromInt32) { throw null; }
        public static FieldCodec<T> ForMessage<T>(uint tag, MessageParser<T> parser) where T : class, IMessage<T> { throw null; }
    }

    public static class MessageExtensions
    {
        public static void MergeFrom(this IMessage message, byte[] data) { throw null; }
        public static void MergeFrom(this IMessage message, ByteString data) { throw null; }
        public static void WriteTo(this IMessage message, Stream output) { throw null; }
        public static byte[] ToByteArray(this IMessage message) { throw null; }
        public static ByteString ToByteString(this IMessage message) { throw null; }
    }
}

namespace Google.Protobuf.Collections
{
    public sealed class RepeatedField<T> : IList<T>, IReadOnlyList<T>, IDeepCloneable<RepeatedField<T>>, IEquatable<RepeatedField<T>>
    {
        public RepeatedField<T> Clone() { throw null; }
        public void AddEntriesFrom(CodedInputStream input, FieldCodec<T> codec) { throw null; }
        public void AddEntriesFrom(ref ParseContext ctx, FieldCodec<T> codec) { throw null; }
        public int CalculateSize(FieldCodec<T> codec) { throw null; }
        public void WriteTo(CodedOutputStream output, FieldCodec<T> codec) { throw null; }
        public void WriteTo(ref WriteContext ctx, FieldCodec<T> codec) { throw null; }
        public int Capacity { get { throw null; } set { throw null; } }
        public void Add(T item) { throw null; }
        public void Clear() { throw null; }
        public bool Contains(T item) { throw null; }
        public void CopyTo(T[] array, int arrayIndex) { throw null; }
        public bool Remove(T item) { throw null; }
        public int Count { get { throw null; } }
        public bool IsReadOnly { get { throw null; } }
        public void AddRange(IEnumerable<T> values) { throw null; }
        public void Add(IEnumerable<T> values) { throw null; }
        public IEnumerator<T> GetEnumerator() { throw null; }
        IEnumerator IEnumerable.GetEnumerator() { throw null; }
        public override bool Equals(object obj) { throw null; }
        public bool Equals(RepeatedField<T> other) { throw null; }
        public override int GetHashCode() { throw null; }
        public int IndexOf(T item) { throw null; }
        public void Insert(int index, T item) { throw null; }
        public void RemoveAt(int index) { throw null; }
        public T this[int index] { get { throw null; } set { throw null; } }
    }

    public static class ProtobufEqualityComparers
    {
        public static EqualityComparer<double> BitwiseDoubleEqualityComparer { get { throw null; } }
        public static EqualityComparer<float> BitwiseSingleEqualityComparer { get { throw null; } }
        public static EqualityComparer<double?> BitwiseNullableDoubleEqualityComparer { get { throw null; } }
        public static EqualityComparer<float?> BitwiseNullableSingleEqualityComparer { get { throw null; } }
    }
}

namespace Google.Protobuf.Reflection
{
    public sealed class FileDescriptor
    {
        private FileDescriptor() { }
        public IList<MessageDescriptor> MessageTypes { get { throw null; } }
        public string Name { get { throw null; } }
        public string Package { get { throw null; } }
        public static FileDescriptor FromGeneratedCode(byte[] descriptorData, FileDescriptor[] dependencies, GeneratedClrTypeInfo generatedCodeInfo) { throw null; }
    }

    public sealed class MessageDescriptor
    {
        private MessageDescriptor() { }
        public string Name { get { throw null; } }
        public string FullName { get { throw null; } }
        public IList<MessageDescriptor> NestedTypes { get { throw null; } }
    }

    public sealed class GeneratedClrTypeInfo
    {
        public GeneratedClrTypeInfo(Type clrType, MessageParser parser, string[] propertyNames, string[] oneofNames, Type[] nestedEnums, Extension[] extensions, GeneratedClrTypeInfo[] nestedTypes) { throw null; }
        public GeneratedClrTypeInfo(Type clrType, MessageParser parser, string[] propertyNames, string[] oneofNames, Type[] nestedEnums, GeneratedClrTypeInfo[] nestedTypes) { throw null; }
        public GeneratedClrTypeInfo(Type[] generatedEnums, Extension[] extensions, GeneratedClrTypeInfo[] generatedCodeInfos) { throw null; }
        public GeneratedClrTypeInfo(Type[] generatedEnums, GeneratedClrTypeInfo[] generatedCodeInfos) { throw null; }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public class OriginalNameAttribute : Attribute
    {
        public OriginalNameAttribute(string name) { throw null; }
        public string Name { get { throw null; } set { throw null; } }
        public bool PreferredAlias { get { throw null; } set { throw null; } }
    }
}
