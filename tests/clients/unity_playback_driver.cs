// Scenarios for LinePlayback (clients/unity/com.lpmbridge.client/Runtime/LinePlayback.cs),
// compiled with it by mcs and run by mono from test_unity_package.py. Clips and frames are
// strings; pts are samples on the session timeline (24 kHz, 25 fps: 960 samples a frame).
// Prints one "ok <scenario>" line per scenario; exits 1 at the first failed expectation.
using System;
using System.Collections.Generic;
using LpmBridge;

public static class PlaybackDriver
{
    private static void Expect(bool condition, string what)
    {
        if (!condition) throw new Exception("expected " + what);
    }

    private static void ExpectEqual(string actual, string expected, string what)
    {
        if (actual != expected) throw new Exception($"{what}: expected '{expected}', got '{actual ?? "null"}'");
    }

    // A second line queued while the first plays never cuts it off: it starts only after
    // the first has finished, and its frames wait for its own audio.
    private static void SecondLineQueues()
    {
        var p = new LinePlayback<string, string>(0.15);
        p.Uploading("a");
        p.Uploading("b");
        p.OnUtteranceStart(1000);
        ExpectEqual(p.OnFrame(40, false, "idle"), null, "idle frame before a pending line waits");
        p.OnFrame(1000, true, "a0");
        p.OnFrame(1960, true, "a1");
        p.OnFrame(2920, false, "a-tail");
        ExpectEqual(p.StartDue(0.0), null, "line a waits for its start buffer");
        ExpectEqual(p.StartDue(0.2), "a", "line a starts after the buffer");
        ExpectEqual(p.Due(0), "a0", "frame at a's first sample");
        p.OnUtteranceStart(4000);
        p.OnFrame(4000, true, "b0");
        p.OnFrame(4960, true, "b1");
        ExpectEqual(p.StartDue(0.3), null, "line b waits while a plays");
        ExpectEqual(p.Playing, "a", "line a still plays");
        ExpectEqual(p.Due(960), "a1", "a's second frame at 960 samples played");
        ExpectEqual(p.Due(1000000), "a-tail", "a's frames only, never b's, while a plays");
        ExpectEqual(p.Finished(), "a", "a finished");
        ExpectEqual(p.Due(0), null, "nothing between a's tail and b's start");
        ExpectEqual(p.StartDue(0.5), "b", "b starts once a has finished");
        ExpectEqual(p.Due(0), "b0", "b's first frame at b's first sample");
        ExpectEqual(p.Due(960), "b1", "b's second frame");
        ExpectEqual(p.Finished(), "b", "b finished");
        Expect(!p.Busy, "idle after the last line");
        ExpectEqual(p.OnFrame(6000, false, "idle2"), "idle2", "idle frames are shown at once again");
    }

    // Barge-in drops every pending line and frame at once; a start or speaking frame of a
    // dropped line that arrives before the daemon's INTERRUPTED is ignored, and the next
    // line pairs with the first start after it.
    private static void InterruptDropsStaleLines()
    {
        var p = new LinePlayback<string, string>(0.0);
        p.Uploading("a");
        p.OnUtteranceStart(1000);
        p.OnFrame(1000, true, "a0");
        ExpectEqual(p.StartDue(1.0), "a", "a starts");
        p.Uploading("b");
        List<string> dropped = p.Interrupt(true);
        ExpectEqual(string.Join(",", dropped), "a,b", "dropped lines, the playing one first");
        Expect(!p.Busy && p.QueuedFrames == 0, "nothing pending after an interrupt");
        p.OnUtteranceStart(3000);  // b's start, sent before the daemon saw the interrupt
        ExpectEqual(p.OnFrame(3000, true, "b0"), null, "a dropped line's speaking frame is dropped");
        ExpectEqual(p.OnFrame(3040, false, "idle"), "idle", "idle frames show at once after a barge-in");
        p.OnInterrupted();
        p.Uploading("c");
        p.OnUtteranceStart(8000);
        p.OnFrame(8000, true, "c0");
        ExpectEqual(p.StartDue(2.0), "c", "the next line pairs with the first start after INTERRUPTED");
        Expect(p.PlayingStartPts == 8000, "c starts at its own UTTERANCE_START");
    }

    // A lost session forgets everything, including interrupts still in flight.
    private static void ResetForgetsInterrupts()
    {
        var p = new LinePlayback<string, string>(0.0);
        p.Uploading("a");
        p.Interrupt(true);
        ExpectEqual(string.Join(",", p.Reset()), "", "nothing left to drop");
        p.Uploading("b");
        p.OnUtteranceStart(500);
        p.OnFrame(500, true, "b0");
        ExpectEqual(p.StartDue(0.0), "b", "a new session's first start belongs to its first line");
    }

    public static int Main()
    {
        var scenarios = new Dictionary<string, Action>
        {
            { "second_line_queues", SecondLineQueues },
            { "interrupt_drops_stale_lines", InterruptDropsStaleLines },
            { "reset_forgets_interrupts", ResetForgetsInterrupts },
        };
        foreach (KeyValuePair<string, Action> scenario in scenarios)
        {
            try
            {
                scenario.Value();
                Console.WriteLine("ok " + scenario.Key);
            }
            catch (Exception e)
            {
                Console.WriteLine("FAILED " + scenario.Key + ": " + e.Message);
                return 1;
            }
        }
        return 0;
    }
}
