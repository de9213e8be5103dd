// API stand-in for the UnityEngine assembly (Unity 2021.3 and later): the types the
// lpm-bridge package and its sample use, plus the UnityEngine names that collide with
// protocol or System names (Avatar, EventType, Object, Random), so an unqualified use is
// ambiguous here exactly as it is in Unity (CS0104). Bodies are `throw null`.
using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get { throw null; } set { throw null; } }
        public static void Destroy(Object obj) { throw null; }
        public static implicit operator bool(Object exists) { throw null; }
        public static bool operator ==(Object x, Object y) { throw null; }
        public static bool operator !=(Object x, Object y) { throw null; }
        public override bool Equals(object other) { throw null; }
        public override int GetHashCode() { throw null; }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { throw null; } }
        public Transform transform { get { throw null; } }
        public T GetComponent<T>() { throw null; }
    }

    public class Transform : Component
    {
        public Vector3 localPosition { get { throw null; } set { throw null; } }
        public Vector3 localScale { get { throw null; } set { throw null; } }
        public void SetParent(Transform parent, bool worldPositionStays) { throw null; }
    }

    public class Behaviour : Component
    {
        public bool enabled { get { throw null; } set { throw null; } }
    }

    public class MonoBehaviour : Behaviour
    {
    }

    public sealed class GameObject : Object
    {
        public GameObject(string name) { throw null; }
        public T AddComponent<T>() where T : Component { throw null; }
        public T GetComponent<T>() { throw null; }
        public Transform transform { get { throw null; } }
        public bool activeSelf { get { throw null; } }
        public void SetActive(bool value) { throw null; }
        public static GameObject CreatePrimitive(PrimitiveType type) { throw null; }
    }

    public enum PrimitiveType { Sphere = 0, Capsule = 1, Cylinder = 2, Cube = 3, Plane = 4, Quad = 5 }

    public struct Vector3
    {
        public float x;
        public float y;
        public float z;
        public Vector3(float x, float y, float z) { throw null; }
    }

    public struct Color
    {
        public Color(float r, float g, float b) { throw null; }
    }

    // Unity's animation Avatar: `Avatar` alone is ambiguous next to Lpm.Bridge.V1.Avatar.
    public sealed class Avatar : Object
    {
        private Avatar() { }
        public bool isValid { get { throw null; } }
    }

    // IMGUI event kinds: `EventType` alone is ambiguous next to Lpm.Bridge.V1.EventType.
    public enum EventType { MouseDown = 0, MouseUp = 1, KeyDown = 4, KeyUp = 5, Repaint = 7, Layout = 8 }

    public sealed class Random
    {
        public static float value { get { throw null; } }
    }

    public class Texture : Object
    {
        public virtual int width { get { throw null; } set { throw null; } }
        public virtual int height { get { throw null; } set { throw null; } }
    }

    public enum TextureFormat { Alpha8 = 1, RGB24 = 3, RGBA32 = 4 }

    public sealed class Texture2D : Texture
    {
        public Texture2D(int width, int height) { throw null; }
        public Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain) { throw null; }
        public void LoadRawTextureData(byte[] data) { throw null; }
        public void Apply() { throw null; }
        public void Apply(bool updateMipmaps, bool makeNoLongerReadable) { throw null; }
        public bool Reinitialize(int width, int height) { throw null; }
        public bool Reinitialize(int width, int height, TextureFormat format, bool hasMipMap) { throw null; }
        public TextureFormat format { get { throw null; } }
    }

    // Texture2D.LoadImage is this extension method (ImageConversion module) since Unity 2017.1.
    public static class ImageConversion
    {
        public static bool LoadImage(this Texture2D tex, byte[] data, bool markNonReadable) { throw null; }
        public static bool LoadImage(this Texture2D tex, byte[] data) { throw null; }
    }

    public class Shader : Object
    {
        public static Shader Find(string name) { throw null; }
    }

    public class Material : Object
    {
        public Material(Shader shader) { throw null; }
        public Texture mainTexture { get { throw null; } set { throw null; } }
    }

    public class Renderer : Component
    {
        public Material material { get { throw null; } set { throw null; } }
        public Material sharedMaterial { get { throw null; } set { throw null; } }
    }

    public sealed class Mesh : Object
    {
        public int blendShapeCount { get { throw null; } }
        public int GetBlendShapeIndex(string blendShapeName) { throw null; }
        public string GetBlendShapeName(int shapeIndex) { throw null; }
    }

    public class SkinnedMeshRenderer : Renderer
    {
        public Mesh sharedMesh { get { throw null; } set { throw null; } }
        public float GetBlendShapeWeight(int index) { throw null; }
        public void SetBlendShapeWeight(int index, float value) { throw null; }
    }

    public class TextAsset : Object
    {
        public byte[] bytes { get { throw null; } }
        public string text { get { throw null; } }
    }

    public enum AudioClipLoadType { DecompressOnLoad = 0, CompressedInMemory = 1, Streaming = 2 }

    public enum AudioDataLoadState { Unloaded = 0, Loading = 1, Loaded = 2, Failed = 3 }

    public sealed class AudioClip : Object
    {
        private AudioClip() { }
        public float length { get { throw null; } }
        public int samples { get { throw null; } }
        public int channels { get { throw null; } }
        public int frequency { get { throw null; } }
        public AudioClipLoadType loadType { get { throw null; } }
        public AudioDataLoadState loadState { get { throw null; } }
        public bool LoadAudioData() { throw null; }
        public bool GetData(float[] data, int offsetSamples) { throw null; }
        public bool SetData(float[] data, int offsetSamples) { throw null; }
        public delegate void PCMReaderCallback(float[] data);
        public delegate void PCMSetPositionCallback(int position);
        public static AudioClip Create(string name, int lengthSamples, int channels, int frequency, bool stream) { throw null; }
        public static AudioClip Create(string name, int lengthSamples, int channels, int frequency, bool stream, PCMReaderCallback pcmreadercallback) { throw null; }
    }

    public class AudioBehaviour : Behaviour
    {
    }

    public sealed class AudioSource : AudioBehaviour
    {
        public AudioClip clip { get { throw null; } set { throw null; } }
        public bool isPlaying { get { throw null; } }
        public int timeSamples { get { throw null; } set { throw null; } }
        public float time { get { throw null; } set { throw null; } }
        public bool playOnAwake { get { throw null; } set { throw null; } }
        public bool loop { get { throw null; } set { throw null; } }
        public void Play() { throw null; }
        public void PlayScheduled(double time) { throw null; }
        public void Stop() { throw null; }
        public void Pause() { throw null; }
        public void UnPause() { throw null; }
    }

    public sealed class AudioSettings
    {
        public static double dspTime { get { throw null; } }
        public static int outputSampleRate { get { throw null; } }
        public static void GetDSPBufferSize(out int bufferLength, out int numBuffers) { throw null; }
    }

    public sealed class Debug
    {
        public static void Log(object message) { throw null; }
        public static void LogWarning(object message) { throw null; }
        public static void LogError(object message) { throw null; }
        public static void LogError(object message, Object context) { throw null; }
        public static void LogException(Exception exception) { throw null; }
    }

    public struct Mathf
    {
        public static float Clamp(float value, float min, float max) { throw null; }
        public static int Clamp(int value, int min, int max) { throw null; }
        public static float Clamp01(float value) { throw null; }
        public static int Min(int a, int b) { throw null; }
        public static float Min(float a, float b) { throw null; }
        public static int Max(int a, int b) { throw null; }
        public static float Max(float a, float b) { throw null; }
        public static int RoundToInt(float f) { throw null; }
        public static float Lerp(float a, float b, float t) { throw null; }
    }

    public class Time
    {
        public static float time { get { throw null; } }
        public static float unscaledTime { get { throw null; } }
        public static float deltaTime { get { throw null; } }
        public static float unscaledDeltaTime { get { throw null; } }
        public static float realtimeSinceStartup { get { throw null; } }
    }

    public class Application
    {
        public static bool isPlaying { get { throw null; } }
    }

    public sealed class Camera : Behaviour
    {
        public static Camera main { get { throw null; } }
    }

    public sealed class AudioListener : AudioBehaviour
    {
    }

    public sealed class GUILayoutOption
    {
        private GUILayoutOption() { }
    }

    public class GUILayout
    {
        public static bool Button(string text, params GUILayoutOption[] options) { throw null; }
        public static void Label(string text, params GUILayoutOption[] options) { throw null; }
    }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute
    {
        public RequireComponent(Type requiredComponent) { throw null; }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class DisallowMultipleComponent : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { throw null; }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class SerializeField : Attribute
    {
    }

    public abstract class PropertyAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
    public class TooltipAttribute : PropertyAttribute
    {
        public TooltipAttribute(string tooltip) { throw null; }
    }

    [AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
    public class HeaderAttribute : PropertyAttribute
    {
        public HeaderAttribute(string header) { throw null; }
    }

    [AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
    public sealed class RangeAttribute : PropertyAttribute
    {
        public RangeAttribute(float min, float max) { throw null; }
    }

    [AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
    public sealed class MinAttribute : PropertyAttribute
    {
        public MinAttribute(float min) { throw null; }
    }
}
