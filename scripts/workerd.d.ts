// The `workerd` npm package is CommonJS: module.exports.default is the path of the platform's binary.
declare module "workerd" {
  const workerd: { default: string; compatibilityDate: string; version: string };
  export default workerd;
}
