import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Finds floating promises with the type checker: a statement whose value is a Promise that
 * nobody awaits, returns, stores, passes on or explicitly discards with `void`. A storage call
 * left floating may run after the code that follows it (on PostgreSQL it always does), even
 * after its transaction ended, and its failure becomes an unhandled rejection that stops the
 * process.
 */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The storage port's file and the interfaces whose methods are the storage calls. */
const PORT_FILE = path.join(ROOT, 'src/shared/db/storage.ts');
const PORT_INTERFACES = new Set(['Queryable', 'Transaction', 'Storage']);

export interface FloatingPromise {
  /** Relative to the repository root, with forward slashes. */
  file: string;
  line: number;
  /** The statement's text, shortened to its first line. */
  text: string;
  /** A statement dropping a promise, or an async function given where a void one is expected. */
  kind: 'statement' | 'async callback';
  /** True when a method of the storage port is involved: the call itself, or one in the callback. */
  storageCall: boolean;
}

/** The program a tsconfig describes: test/tsconfig.json covers src/ and test/ in one program. */
export function programFromConfig(configPath: string): ts.Program {
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  });
  if (config === undefined) throw new Error(`Cannot read ${configPath}`);
  return ts.createProgram({ rootNames: config.fileNames, options: { ...config.options, noEmit: true, incremental: false } });
}

/**
 * A program made of in-memory sources (keyed by paths relative to the repository root) on
 * top of the real files, so a fixture can import the real storage port.
 */
export function programFromSources(sources: Readonly<Record<string, string>>, configPath = path.join(ROOT, 'tsconfig.json')): ts.Program {
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (config === undefined) throw new Error(`Cannot read ${configPath}`);
  const options: ts.CompilerOptions = { ...config.options, noEmit: true, incremental: false, rootDir: ROOT };
  const inMemory = new Map(Object.entries(sources).map(([name, text]) => [path.join(ROOT, name), text]));
  const host = ts.createCompilerHost(options, true);
  const readFromDisk = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const text = inMemory.get(path.resolve(fileName));
    return text === undefined
      ? readFromDisk(fileName, languageVersion, onError, shouldCreate)
      : ts.createSourceFile(fileName, text, languageVersion, true);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => inMemory.has(path.resolve(fileName)) || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => inMemory.get(path.resolve(fileName)) ?? readFile(fileName);
  return ts.createProgram({ rootNames: [...inMemory.keys()], options, host });
}

/** The compile errors of the given files: a fixture that does not type-check proves nothing. */
export function compileErrors(program: ts.Program, files: readonly string[]): string[] {
  return files.flatMap((file) => {
    const sourceFile = program.getSourceFile(path.join(ROOT, file));
    if (sourceFile === undefined) return [`${file} is not in the program`];
    return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)].map(
      (diagnostic) => `${file}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`,
    );
  });
}

const isGlobalPromise = (symbol: ts.Symbol | undefined): boolean =>
  symbol?.getName() === 'Promise' && (symbol.getDeclarations() ?? []).some((declaration) => declaration.getSourceFile().hasNoDefaultLib);

/**
 * tap queues every subtest and ends the parent only after it: the promise `t.test()` returns
 * is for a caller that wants the result, and leaving it alone is the documented usage.
 */
const isTapSubtest = (symbol: ts.Symbol | undefined): boolean =>
  symbol?.getName() === 'PromiseWithSubtest' &&
  (symbol.getDeclarations() ?? []).some((declaration) => declaration.getSourceFile().fileName.includes('/node_modules/@tapjs/'));

function extendsGlobalPromise(checker: ts.TypeChecker, type: ts.Type, depth = 0): boolean {
  if (isGlobalPromise(type.getSymbol())) return true;
  if (depth > 5 || !(type.flags & ts.TypeFlags.Object)) return false;
  const target = (type as ts.TypeReference).target ?? type;
  if (!(target.flags & ts.TypeFlags.Object) || !((target as ts.ObjectType).objectFlags & ts.ObjectFlags.ClassOrInterface)) return false;
  return (checker.getBaseTypes(target as ts.InterfaceType) ?? []).some((base) => extendsGlobalPromise(checker, base, depth + 1));
}

/**
 * True for the global Promise, a type derived from it, or a union containing one. Any
 * thenable would be too wide: Fastify's reply has a `then` so that a handler may return it,
 * and its setters return it for chaining; a `reply.header(...)` statement is not pending work.
 */
function isPromise(checker: ts.TypeChecker, node: ts.Node): boolean {
  const type = checker.getTypeAtLocation(node);
  const parts = type.isUnion() ? type.types : [type];
  return parts.some((part) => !isTapSubtest(part.getSymbol()) && extendsGlobalPromise(checker, part));
}

function unwrap(expression: ts.Expression): ts.Expression {
  let inner = expression;
  while (ts.isParenthesizedExpression(inner) || ts.isAsExpression(inner) || ts.isNonNullExpression(inner) || ts.isSatisfiesExpression(inner)) {
    inner = inner.expression;
  }
  return inner;
}

/** `p.then(...)`, `p.catch(...)`, `p.finally(...)`: the method name, or undefined. */
function chainMethod(call: ts.CallExpression): 'then' | 'catch' | 'finally' | undefined {
  const callee = unwrap(call.expression);
  if (!ts.isPropertyAccessExpression(callee)) return undefined;
  const name = callee.name.text;
  return name === 'then' || name === 'catch' || name === 'finally' ? name : undefined;
}

function isStorageCall(checker: ts.TypeChecker, call: ts.CallExpression): boolean {
  const declaration = checker.getResolvedSignature(call)?.declaration;
  if (declaration === undefined || !ts.isMethodSignature(declaration)) return false;
  const owner = declaration.parent;
  return (
    ts.isInterfaceDeclaration(owner) &&
    PORT_INTERFACES.has(owner.name.text) &&
    path.resolve(declaration.getSourceFile().fileName) === PORT_FILE
  );
}

/**
 * The promise-valued calls an expression statement leaves unhandled. Awaits, `void` (except
 * on a storage call), assignments and (through the statement's parents) returns and arguments are handled;
 * `.catch(handler)` and `.then(onFulfilled, onRejected)` handle the rejection, so only a
 * call without that handler floats; `.finally` passes its receiver's rejection on.
 */
function floatingCalls(checker: ts.TypeChecker, expression: ts.Expression): ts.CallExpression[] {
  const node = unwrap(expression);
  if (ts.isAwaitExpression(node)) return [];
  // `void` may discard deliberate fire-and-forget work, never a storage call: one that nobody
  // waits for can run after its transaction ended, and its failure goes unseen.
  if (ts.isVoidExpression(node)) return floatingCalls(checker, node.expression).filter((call) => involvesStorageCall(checker, call));
  if (ts.isBinaryExpression(node)) {
    const operator = node.operatorToken.kind;
    if (operator >= ts.SyntaxKind.FirstAssignment && operator <= ts.SyntaxKind.LastAssignment) return [];
    if (operator === ts.SyntaxKind.CommaToken) return [...floatingCalls(checker, node.left), ...floatingCalls(checker, node.right)];
    if (operator === ts.SyntaxKind.AmpersandAmpersandToken || operator === ts.SyntaxKind.BarBarToken || operator === ts.SyntaxKind.QuestionQuestionToken) {
      return floatingCalls(checker, node.right);
    }
    return [];
  }
  if (ts.isConditionalExpression(node)) return [...floatingCalls(checker, node.whenTrue), ...floatingCalls(checker, node.whenFalse)];
  if (!ts.isCallExpression(node) || !isPromise(checker, node)) return [];
  const chained = chainMethod(node);
  if (chained === 'catch' && node.arguments.length >= 1) return [];
  if (chained === 'then' && node.arguments.length >= 2) return [];
  if (chained === 'finally') {
    const receiver = (unwrap(node.expression) as ts.PropertyAccessExpression).expression;
    return floatingCalls(checker, receiver).length === 0 ? [] : [node];
  }
  return [node];
}

/**
 * Where a storage call inside a chain comes from: `tx.run(a).then(f)` floats because of `tx.run`.
 * The chain's own receivers are walked until a call the port declares is found.
 */
function involvesStorageCall(checker: ts.TypeChecker, call: ts.CallExpression): boolean {
  let current: ts.Expression = call;
  for (;;) {
    current = unwrap(current);
    if (!ts.isCallExpression(current)) return false;
    if (isStorageCall(checker, current)) return true;
    const callee = unwrap(current.expression);
    if (!chainMethod(current) || !ts.isPropertyAccessExpression(callee)) return false;
    current = callee.expression;
  }
}

const returnsOnlyVoid = (checker: ts.TypeChecker, type: ts.Type): boolean => {
  const signatures = (type.isUnion() ? type.types : [type]).flatMap((part) => checker.getNonNullableType(part).getCallSignatures());
  return signatures.length > 0 && signatures.every((signature) => (checker.getReturnTypeOfSignature(signature).flags & ts.TypeFlags.Void) !== 0);
};

/**
 * The types a function argument may have across every overload of the function it is passed
 * to: Fastify's `register` takes a callback plugin or an async one, and the checker's
 * contextual type names only the overload it picked.
 */
function parameterTypesAcrossOverloads(checker: ts.TypeChecker, call: ts.CallExpression, index: number): ts.Type[] {
  return checker.getTypeAtLocation(call.expression).getCallSignatures().flatMap((signature) => {
    const parameters = signature.getParameters();
    const last = parameters[parameters.length - 1];
    const declaration = last?.valueDeclaration;
    const lastIsRest = declaration !== undefined && ts.isParameter(declaration) && declaration.dotDotDotToken !== undefined;
    if (index < parameters.length - (lastIsRest ? 1 : 0)) return [checker.getTypeOfSymbolAtLocation(parameters[index]!, call)];
    if (!lastIsRest) return [];
    const rest = checker.getTypeOfSymbolAtLocation(last!, call);
    return [checker.getIndexTypeOfType(rest, ts.IndexKind.Number) ?? rest];
  });
}

/**
 * An async function handed to code that expects a function returning nothing: its promise is
 * dropped by the caller (`rows.forEach(async (row) => tx.run(...))`), a floating promise one
 * step removed.
 */
function returnsPromiseWhereVoidIsExpected(checker: ts.TypeChecker, fn: ts.ArrowFunction | ts.FunctionExpression): boolean {
  // What the receiver expects is looked at first: it rules out most callbacks without inferring their return type.
  const parent = fn.parent;
  const contextual = checker.getContextualType(fn);
  const accepted =
    ts.isCallExpression(parent) && parent.arguments.includes(fn)
      ? parameterTypesAcrossOverloads(checker, parent, parent.arguments.indexOf(fn))
      : contextual === undefined ? [] : [contextual];
  if (accepted.length === 0 || !accepted.every((type) => returnsOnlyVoid(checker, type))) return false;
  const signature = checker.getSignatureFromDeclaration(fn);
  if (signature === undefined) return false;
  const returned = checker.getReturnTypeOfSignature(signature);
  return (returned.isUnion() ? returned.types : [returned]).some((part) => extendsGlobalPromise(checker, part));
}

function containsStorageCall(checker: ts.TypeChecker, node: ts.Node): boolean {
  return (ts.isCallExpression(node) && isStorageCall(checker, node)) || (ts.forEachChild(node, (child) => containsStorageCall(checker, child) || undefined) ?? false);
}

/**
 * Every floating promise in the program's files under the given folders (relative to the
 * repository root). Declaration files and node_modules are never looked at.
 */
export function findFloatingPromises(program: ts.Program, folders: readonly string[]): FloatingPromise[] {
  const checker = program.getTypeChecker();
  const roots = folders.map((folder) => path.join(ROOT, folder) + path.sep);
  const findings: FloatingPromise[] = [];
  for (const sourceFile of program.getSourceFiles()) {
    const fileName = path.resolve(sourceFile.fileName);
    if (sourceFile.isDeclarationFile || !roots.some((root) => fileName.startsWith(root))) continue;
    const report = (node: ts.Node, kind: FloatingPromise['kind'], storageCall: boolean) =>
      findings.push({
        file: path.relative(ROOT, fileName).split(path.sep).join('/'),
        line: sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + 1,
        text: node.getText(sourceFile).split('\n')[0]!.trim(),
        kind,
        storageCall,
      });
    const visit = (node: ts.Node): void => {
      if (ts.isExpressionStatement(node)) {
        for (const call of floatingCalls(checker, node.expression)) report(node, 'statement', involvesStorageCall(checker, call));
      }
      if ((ts.isArrowFunction(node) || ts.isFunctionExpression(node)) && returnsPromiseWhereVoidIsExpected(checker, node)) {
        report(node, 'async callback', containsStorageCall(checker, node));
      }
      ts.forEachChild(node, visit);
    };
    visit(sourceFile);
  }
  return findings;
}

export interface AllowedFloat {
  file: string;
  /** The statement's first line as reported, so an entry survives lines moving above it. */
  text: string;
  /** Why nothing is left pending here. */
  reason: string;
}

/** Statements the rule reports that leave nothing pending. Each needs a reason; keep it short. */
export const ALLOWED: readonly AllowedFloat[] = [
  {
    file: 'src/shared/json-body.ts',
    text: 'parse(request, text, done);',
    reason:
      "Fastify types its default JSON parser as either a callback parser or an async one, so the call reads as `void | Promise`; the default parser is the callback kind: it answers through `done` and returns nothing.",
  },
];

const sameStatement = (finding: FloatingPromise, allowed: AllowedFloat) => finding.file === allowed.file && finding.text === allowed.text;

/** The findings no allow-list entry covers, and the entries that no longer match anything. */
export function checkAgainstAllowList(findings: readonly FloatingPromise[], allowed: readonly AllowedFloat[] = ALLOWED) {
  return {
    unexpected: findings.filter((finding) => !allowed.some((entry) => sameStatement(finding, entry))),
    stale: allowed.filter((entry) => !findings.some((finding) => sameStatement(finding, entry))),
  };
}

export const describeFinding = (finding: FloatingPromise) =>
  `${finding.file}:${finding.line}: ${finding.kind === 'statement' ? 'promise' : 'async callback whose promise is dropped'}${finding.storageCall ? ' (storage call)' : ''}: ${finding.text}`;

// Run directly (`node --import tsx test/floating-promises.ts`), it lists what the test would refuse.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const findings = findFloatingPromises(programFromConfig(path.join(ROOT, 'test/tsconfig.json')), ['src', 'test']);
  const { unexpected, stale } = checkAgainstAllowList(findings);
  for (const finding of unexpected) console.error(describeFinding(finding));
  for (const entry of stale) console.error(`${entry.file}: allow-list entry matches nothing any more: ${entry.text}`);
  process.exitCode = unexpected.length + stale.length > 0 ? 1 : 0;
}
