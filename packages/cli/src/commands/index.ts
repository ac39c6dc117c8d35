/** Every `verity` command, in the order `verity --help` lists them. */
import type { Command } from '../command.js';
import { auditCheckpoint } from './audit-checkpoint.js';
import { auditTail } from './audit-tail.js';
import { auditObserveReport } from './audit-observe-report.js';
import { auditVerify } from './audit-verify.js';
import { authorize } from './authorize.js';
import { caRotate } from './ca-rotate.js';
import { caShow } from './ca-show.js';
import { dbInstall, dbRotate } from './db.js';
import { devIdp } from './dev-idp.js';
import { devToken } from './dev-token.js';
import { entitiesImport } from './entities-import.js';
import { evaluate } from './eval.js';
import { identitySourceAdd } from './identity-source-add.js';
import { identitySourceList } from './identity-source-list.js';
import { identitySourceRemove } from './identity-source-remove.js';
import { istioImport } from './istio-import.js';
import { jobRevoke } from './job-revoke.js';
import { policyActivate } from './policy-activate.js';
import { policyDiff } from './policy-diff.js';
import { policyPush } from './policy-push.js';
import { policyReplay } from './policy-replay.js';
import { policyTest } from './policy-test.js';
import { policyValidate } from './policy-validate.js';
import { policyVersions } from './policy-versions.js';
import { serve } from './serve.js';
import { tenantBundleKey } from './tenant-bundle-key.js';
import { credentialCreate, credentialList, credentialRevoke, credentialRotate } from './credential.js';
import { tenantCreate } from './tenant-create.js';
import { tenantList } from './tenant-list.js';
import { tenantUpdate } from './tenant-update.js';
import { tenantDelete } from './tenant-delete.js';
import { tenantDiff } from './tenant-diff.js';
import { tenantRollback } from './tenant-rollback.js';
import { tenantVersions } from './tenant-versions.js';
import { tokenExchange } from './token-exchange.js';
import { tokenInspect } from './token-inspect.js';
import { tokenIssue } from './token-issue.js';
import { tokenRevoke } from './token-revoke.js';
import { version } from './version.js';
import { workloadJoinToken } from './workload-join-token.js';
import { workloadList } from './workload-list.js';
import { workloadRegister } from './workload-register.js';
import { workloadRemove } from './workload-remove.js';
import { workloadAgent } from './workload-agent.js';
import { workloadSvid } from './workload-svid.js';

export const commands: readonly Command[] = [
  serve,
  tenantCreate,
  tenantList,
  tenantUpdate,
  tenantVersions,
  tenantDiff,
  tenantRollback,
  tenantDelete,
  tenantBundleKey,
  credentialList,
  credentialCreate,
  credentialRevoke,
  credentialRotate,
  policyValidate,
  policyTest,
  policyPush,
  policyVersions,
  policyActivate,
  policyDiff,
  policyReplay,
  entitiesImport,
  authorize,
  evaluate,
  auditTail,
  auditObserveReport,
  auditVerify,
  auditCheckpoint,
  identitySourceAdd,
  identitySourceList,
  identitySourceRemove,
  tokenIssue,
  tokenExchange,
  tokenRevoke,
  tokenInspect,
  jobRevoke,
  workloadRegister,
  workloadList,
  workloadRemove,
  workloadJoinToken,
  caShow,
  caRotate,
  istioImport,
  dbInstall,
  dbRotate,
  workloadAgent,
  workloadSvid,
  devIdp,
  devToken,
  version,
];
