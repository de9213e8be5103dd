// NpcSample: a talking NPC face in an empty scene, to check a setup end to end.
//
// Add this component to an empty GameObject in a new scene and press Play. It builds a
// quad that shows the face (an LpmBridgeNpc with an AudioSource), places the camera in
// front of it, and draws three buttons: speak the first line, queue every line (they play
// one after the other), and stop (barge-in). Assign `lines`: AudioClips at the NPC's
// sampleRateHz (24000 by default) with Load Type "Decompress On Load". Every event the
// NPC raises is written to the Console and to the label under the buttons.
using LpmBridge;
using UnityEngine;

public sealed class NpcSample : MonoBehaviour
{
    public string serverAddress = "http://127.0.0.1:50051";
    public AudioClip[] lines = new AudioClip[0];

    private LpmBridgeNpc _npc;
    private string _last = "connecting...";

    private void Awake()
    {
        GameObject face = GameObject.CreatePrimitive(PrimitiveType.Quad);
        face.name = "NPC face";
        face.transform.SetParent(transform, false);
        // Unlit: the face keeps the colours the daemon rendered, whatever the lighting.
        face.GetComponent<Renderer>().material = new Material(Shader.Find("Unlit/Texture"));
        face.AddComponent<AudioSource>().playOnAwake = false;

        // Configured before its own Awake runs: AddComponent runs Awake at once, so the
        // fields it reads there (faceRenderer) are set on a disabled component first.
        face.SetActive(false);
        _npc = face.AddComponent<LpmBridgeNpc>();
        _npc.serverAddress = serverAddress;
        _npc.faceRenderer = face.GetComponent<Renderer>();
        face.SetActive(true);

        _npc.Error += status => Note($"error: {status.StatusCode} {status.Detail}");
        _npc.SpeakingStarted += clip => Note($"speaking: {clip.name}");
        _npc.SpeakingEnded += clip => Note($"finished: {clip.name}");
        _npc.SpeakingInterrupted += dropped => Note($"interrupted: {dropped.Count} line(s) dropped");

        if (Camera.main != null) Camera.main.transform.localPosition = new Vector3(0f, 0f, -1.2f);
    }

    private void Note(string text)
    {
        _last = text;
        Debug.Log($"NpcSample: {text}");
    }

    private void OnGUI()
    {
        if (lines.Length > 0 && GUILayout.Button("Speak the first line")) _npc.Speak(lines[0]);
        if (lines.Length > 0 && GUILayout.Button("Queue every line"))
        {
            foreach (AudioClip clip in lines) _npc.Speak(clip);
        }
        if (GUILayout.Button("Stop (barge-in)")) _npc.StopSpeaking();
        if (lines.Length == 0) GUILayout.Label("Assign AudioClips to NpcSample.lines to make the NPC talk.");
        GUILayout.Label(_last);
    }
}
