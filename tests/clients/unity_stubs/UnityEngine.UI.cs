// API stand-in for com.unity.ugui's UnityEngine.UI assembly: RawImage, the UI element an NPC's
// face texture can be shown on.
using UnityEngine;

namespace UnityEngine.EventSystems
{
    public abstract class UIBehaviour : MonoBehaviour
    {
    }
}

namespace UnityEngine.UI
{
    public abstract class Graphic : UnityEngine.EventSystems.UIBehaviour
    {
        public virtual Texture mainTexture { get { throw null; } }
    }

    public abstract class MaskableGraphic : Graphic
    {
    }

    public class RawImage : MaskableGraphic
    {
        public Texture texture { get { throw null; } set { throw null; } }
    }
}
