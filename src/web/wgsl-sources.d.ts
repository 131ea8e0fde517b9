/** The kernel files of src/kernels/wgsl/ by name, put into the page's bundle by src/web/build.ts. */
declare module 'wgcam:wgsl-sources' {
  const sources: Record<string, string>;
  export default sources;
}
