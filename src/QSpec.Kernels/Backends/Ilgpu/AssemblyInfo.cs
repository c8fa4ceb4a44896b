using System.Runtime.CompilerServices;

// ILGPU's CPU accelerator emits kernel launchers into a dynamic assembly named "ILGPURuntime"; they need access
// to the internal kernel classes and shape structs.
[assembly: InternalsVisibleTo("ILGPURuntime")]
