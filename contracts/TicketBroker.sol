// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/**
 * @title TicketBroker
 * @notice Livepeer's probabilistic-micropayment broker for Livecast: senders (broadcasters)
 * fund a deposit and a reserve, sign lottery tickets off chain, and recipients (transcoders)
 * redeem the winning ones here.
 *
 * Same as Livepeer's TicketBroker (protocol: contracts/pm/):
 * - the `Ticket` struct, `getTicketHash` (keccak256 of the packed fields, auxData last) and
 *   the signature rule (EIP-191 `personal_sign` of the 32-byte ticket hash, 65 bytes,
 *   low-s, v in {27, 28});
 * - the win rule `uint256(keccak256(abi.encodePacked(sig, recipientRand))) < winProb`;
 * - the redemption checks (non-null recipient and sender, auxData = creationRound (32 bytes)
 *   followed by creationRoundBlockHash (32 bytes) with that round's block hash,
 *   `creationRound + ticketValidityPeriod > currentRound`, recipientRand preimage, ticket not
 *   used, valid signature, winning, sender locked, deposit or reserve non-zero);
 * - payout from the deposit first and then from the reserve;
 * - `unlock` / `cancelUnlock` / `withdraw` with an unlock period counted in rounds, and a
 *   sender funding itself cancels its unlock;
 * - function names, argument order, return shapes and events.
 *
 * Simpler than Livepeer, by design:
 * - Rounds. There is no RoundsManager: a round is `roundLength` blocks,
 *   `currentRound() = block.number / roundLength`. The block hash of round `r` (r >= 1) is
 *   the hash of the last block of round `r - 1`, i.e. `blockhash(r * roundLength - 1)`; it
 *   is readable without any transaction while that block is among the last 256, and
 *   `initializeRound()` (anyone may call it, once per round) stores it for good. Round 0 has
 *   no block hash, so tickets can only be created from round 1 on.
 * - Funds stay in this contract (no Minter) and a winning ticket pays the recipient's
 *   address directly (no BondingManager fee pool).
 * - Reserve: there is no active transcoder pool, so any recipient may claim up to the whole
 *   remaining reserve (Livepeer divides it by the active pool size per round).
 *   `claimableReserve` and `claimedReserve` keep their meaning under that rule.
 * - Ownership: a single `owner` (the deployer) instead of the Controller's owner.
 *
 * Deliberate extension (session keys): a browser funds a throwaway session key from the
 * user's wallet with `fundDepositAndReserveFor`, and the session key signs the tickets. So
 * that the key never strands funds, the first account that funds an address is recorded as
 * its funder (`funderOf`); later funding by anyone else does not change it. `withdraw` then
 * pays the funder instead of the caller, and the funder may call `unlockFor`,
 * `cancelUnlockFor` and `withdrawFor` for the key, so the key needs no gas. An address that
 * funds itself first is its own funder, which is Livepeer's behaviour.
 */
contract TicketBroker {
    /// @notice A probabilistic micropayment (Livepeer's MTicketBrokerCore.Ticket).
    struct Ticket {
        address recipient; // Address of ticket recipient
        address sender; // Address of ticket sender
        uint256 faceValue; // Face value of ticket paid to recipient if ticket wins
        uint256 winProb; // Probability ticket will win represented as winProb / (2^256 - 1)
        uint256 senderNonce; // Sender's monotonically increasing counter for each ticket
        bytes32 recipientRandHash; // keccak256 hash commitment to recipient's random value
        bytes auxData; // creationRound (32 bytes) followed by creationRoundBlockHash (32 bytes)
    }

    /// @notice A sender's deposit and the round from which it may withdraw (0: locked).
    struct Sender {
        uint256 deposit;
        uint256 withdrawRound;
    }

    /// @notice A sender's reserve as reported by `getSenderInfo`.
    struct ReserveInfo {
        uint256 fundsRemaining;
        uint256 claimedInCurrentRound;
    }

    struct Reserve {
        uint256 funds;
        mapping(uint256 => uint256) claimedForRound; // round => total claimed
        mapping(uint256 => mapping(address => uint256)) claimedByAddress; // round => claimant => claimed
    }

    /// @notice Emitted when funds are added to a sender's deposit.
    event DepositFunded(address indexed sender, uint256 amount);
    /// @notice Emitted when funds are added to a reserve.
    event ReserveFunded(address indexed reserveHolder, uint256 amount);
    /// @notice Emitted when funds are claimed from a reserve.
    event ReserveClaimed(address indexed reserveHolder, address claimant, uint256 amount);
    /// @notice Emitted when a winning ticket is redeemed.
    event WinningTicketRedeemed(
        address indexed sender,
        address indexed recipient,
        uint256 faceValue,
        uint256 winProb,
        uint256 senderNonce,
        uint256 recipientRand,
        bytes auxData
    );
    /// @notice Emitted when funds for a winning ticket are transferred.
    event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
    /// @notice Emitted when a sender requests an unlock.
    event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
    /// @notice Emitted when a sender's unlock is cancelled.
    event UnlockCancelled(address indexed sender);
    /// @notice Emitted when a sender's deposit and reserve are withdrawn.
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);
    /// @notice Emitted when an owner setter changes a parameter.
    event ParameterUpdate(string param);
    /// @notice Emitted when a round's block hash is stored by `initializeRound`.
    event NewRound(uint256 indexed round, bytes32 blockHash);
    /// @notice Extension: emitted when the first funder of an address is recorded.
    event FunderRecorded(address indexed sender, address indexed funder);

    /// @notice The account allowed to change parameters.
    address public owner;
    /// @notice Rounds between `unlock` and the first round `withdraw` is allowed in.
    uint256 public unlockPeriod;
    /// @notice Rounds a ticket stays redeemable, counted from its creation round.
    uint256 public ticketValidityPeriod;
    /// @notice Blocks per round.
    uint256 public immutable roundLength;
    /// @notice Ticket hash => redeemed.
    mapping(bytes32 => bool) public usedTickets;
    /// @notice Extension: the first account that funded an address; receives its withdrawal.
    mapping(address => address) public funderOf;

    mapping(address => Sender) internal senders;
    mapping(address => Reserve) internal reserves;
    mapping(uint256 => bytes32) internal storedRoundBlockHash;

    modifier onlyOwner() {
        require(msg.sender == owner, "caller must be the owner");
        _;
    }

    modifier checkDepositReserveETHValueSplit(uint256 _depositAmount, uint256 _reserveAmount) {
        require(
            msg.value == _depositAmount + _reserveAmount,
            "msg.value does not equal sum of deposit amount and reserve amount"
        );
        _;
    }

    /**
     * @param _unlockPeriod Rounds between `unlock` and the round `withdraw` is allowed in
     * @param _ticketValidityPeriod Rounds a ticket is redeemable from its creation round (> 0)
     * @param _roundLength Blocks per round (> 0)
     */
    constructor(uint256 _unlockPeriod, uint256 _ticketValidityPeriod, uint256 _roundLength) {
        require(_ticketValidityPeriod > 0, "ticketValidityPeriod must be greater than 0");
        require(_roundLength > 0, "roundLength must be greater than 0");
        owner = msg.sender;
        unlockPeriod = _unlockPeriod;
        ticketValidityPeriod = _ticketValidityPeriod;
        roundLength = _roundLength;
    }

    // ---------------------------------------------------------------- owner

    /// @notice Sets the unlock period in rounds (owner only).
    function setUnlockPeriod(uint256 _unlockPeriod) external onlyOwner {
        unlockPeriod = _unlockPeriod;
        emit ParameterUpdate("unlockPeriod");
    }

    /// @notice Sets the ticket validity period in rounds (owner only, > 0).
    function setTicketValidityPeriod(uint256 _ticketValidityPeriod) external onlyOwner {
        require(_ticketValidityPeriod > 0, "ticketValidityPeriod must be greater than 0");
        ticketValidityPeriod = _ticketValidityPeriod;
        emit ParameterUpdate("ticketValidityPeriod");
    }

    /// @notice Hands the owner role to another account (owner only).
    function transferOwnership(address _newOwner) external onlyOwner {
        require(_newOwner != address(0), "new owner is the null address");
        owner = _newOwner;
        emit ParameterUpdate("owner");
    }

    // ---------------------------------------------------------------- rounds

    /// @notice The current round: `block.number / roundLength`.
    function currentRound() public view returns (uint256) {
        return block.number / roundLength;
    }

    /// @notice The first block of the current round.
    function currentRoundStartBlock() public view returns (uint256) {
        return currentRound() * roundLength;
    }

    /**
     * @notice The block hash of `_round`: the hash of the last block of the previous round,
     * as stored by `initializeRound` or, if not stored, while that block is among the last
     * 256. Zero for round 0, future rounds and hashes no longer available.
     */
    function blockHashForRound(uint256 _round) public view returns (bytes32) {
        bytes32 stored = storedRoundBlockHash[_round];
        if (stored != bytes32(0)) {
            return stored;
        }
        if (_round == 0 || _round > currentRound()) {
            return bytes32(0);
        }
        // blockhash() is zero for blocks older than the last 256.
        return blockhash(_round * roundLength - 1);
    }

    /**
     * @notice Stores the current round's block hash so that tickets of this round stay
     * redeemable after the block leaves the 256-block window. Anyone may call it; a second
     * call in the same round does nothing.
     */
    function initializeRound() external {
        uint256 round = currentRound();
        require(round > 0, "round 0 has no block hash");
        if (storedRoundBlockHash[round] != bytes32(0)) {
            return;
        }
        bytes32 hash = blockhash(round * roundLength - 1);
        require(hash != bytes32(0), "round block hash is no longer available");
        storedRoundBlockHash[round] = hash;
        emit NewRound(round, hash);
    }

    // ---------------------------------------------------------------- funding

    /// @notice Adds ETH to the caller's deposit.
    function fundDeposit() external payable {
        processDeposit(msg.sender, msg.value);
    }

    /// @notice Adds ETH to the caller's reserve.
    function fundReserve() external payable {
        processReserve(msg.sender, msg.value);
    }

    /// @notice Adds ETH to the caller's deposit and reserve; `msg.value` must be their sum.
    function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) external payable {
        fundDepositAndReserveFor(msg.sender, _depositAmount, _reserveAmount);
    }

    /**
     * @notice Adds ETH to `_addr`'s deposit and reserve; `msg.value` must be their sum. The
     * first account to fund `_addr` is recorded as its funder (extension, see the contract doc).
     */
    function fundDepositAndReserveFor(
        address _addr,
        uint256 _depositAmount,
        uint256 _reserveAmount
    ) public payable checkDepositReserveETHValueSplit(_depositAmount, _reserveAmount) {
        processDeposit(_addr, _depositAmount);
        processReserve(_addr, _reserveAmount);
    }

    // ---------------------------------------------------------------- redemption

    /**
     * @notice Redeems a winning ticket signed by its sender, revealing the recipientRand
     * whose hash the ticket commits to; pays faceValue from the deposit, then the reserve.
     * @param _ticket Winning ticket
     * @param _sig Sender's 65-byte EIP-191 signature over `getTicketHash(_ticket)`
     * @param _recipientRand Preimage of `_ticket.recipientRandHash`
     */
    function redeemWinningTicket(Ticket memory _ticket, bytes memory _sig, uint256 _recipientRand) public {
        bytes32 ticketHash = getTicketHash(_ticket);
        requireValidWinningTicket(_ticket, ticketHash, _sig, _recipientRand);

        Sender storage sender = senders[_ticket.sender];
        require(isLocked(sender), "sender is unlocked");
        require(sender.deposit > 0 || reserves[_ticket.sender].funds > 0, "sender deposit and reserve are zero");

        usedTickets[ticketHash] = true;

        uint256 amountToTransfer;
        if (_ticket.faceValue > sender.deposit) {
            amountToTransfer =
                sender.deposit + claimFromReserve(_ticket.sender, _ticket.recipient, _ticket.faceValue - sender.deposit);
            sender.deposit = 0;
        } else {
            amountToTransfer = _ticket.faceValue;
            sender.deposit -= _ticket.faceValue;
        }

        if (amountToTransfer > 0) {
            sendValue(_ticket.recipient, amountToTransfer);
            emit WinningTicketTransfer(_ticket.sender, _ticket.recipient, amountToTransfer);
        }

        emit WinningTicketRedeemed(
            _ticket.sender,
            _ticket.recipient,
            _ticket.faceValue,
            _ticket.winProb,
            _ticket.senderNonce,
            _recipientRand,
            _ticket.auxData
        );
    }

    /**
     * @notice Redeems several winning tickets; a ticket that fails is skipped (Livepeer's
     * MixinWrappers semantics).
     */
    function batchRedeemWinningTickets(
        Ticket[] memory _tickets,
        bytes[] memory _sigs,
        uint256[] memory _recipientRands
    ) public {
        require(
            _tickets.length == _sigs.length && _tickets.length == _recipientRands.length,
            "array lengths differ"
        );
        for (uint256 i = 0; i < _tickets.length; i++) {
            (bool success, ) = address(this).call(
                abi.encodeCall(this.redeemWinningTicket, (_tickets[i], _sigs[i], _recipientRands[i]))
            );
            success; // a failed ticket is skipped on purpose
        }
    }

    // ---------------------------------------------------------------- unlock / withdraw

    /// @notice Starts the caller's unlock period.
    function unlock() public {
        _unlock(msg.sender);
    }

    /// @notice Cancels the caller's unlock.
    function cancelUnlock() public {
        _cancelUnlock(msg.sender);
    }

    /// @notice Withdraws the caller's deposit and reserve, to its recorded funder if any.
    function withdraw() public {
        _withdraw(msg.sender);
    }

    /// @notice Extension: the recorded funder of `_sender` starts its unlock period.
    function unlockFor(address _sender) external {
        requireFunder(_sender);
        _unlock(_sender);
    }

    /// @notice Extension: the recorded funder of `_sender` cancels its unlock.
    function cancelUnlockFor(address _sender) external {
        requireFunder(_sender);
        _cancelUnlock(_sender);
    }

    /// @notice Extension: the recorded funder of `_sender` withdraws its deposit and reserve to itself.
    function withdrawFor(address _sender) external {
        requireFunder(_sender);
        _withdraw(_sender);
    }

    // ---------------------------------------------------------------- views

    /// @notice Whether `_sender` has an unlock in progress.
    function isUnlockInProgress(address _sender) public view returns (bool) {
        return senders[_sender].withdrawRound > 0;
    }

    /// @notice A sender's deposit and withdraw round, and its reserve.
    function getSenderInfo(address _sender) public view returns (Sender memory sender, ReserveInfo memory reserve) {
        sender = senders[_sender];
        reserve = getReserveInfo(_sender);
    }

    /// @notice A reserve's remaining funds and the amount claimed from it this round.
    function getReserveInfo(address _reserveHolder) public view returns (ReserveInfo memory info) {
        info.fundsRemaining = reserves[_reserveHolder].funds;
        info.claimedInCurrentRound = reserves[_reserveHolder].claimedForRound[currentRound()];
    }

    /// @notice What `_claimant` may claim from `_reserveHolder`'s reserve now: all of it (see the contract doc).
    function claimableReserve(address _reserveHolder, address _claimant) public view returns (uint256) {
        _claimant; // every recipient may claim the whole remaining reserve
        return reserves[_reserveHolder].funds;
    }

    /// @notice What `_claimant` has claimed from `_reserveHolder`'s reserve this round.
    function claimedReserve(address _reserveHolder, address _claimant) public view returns (uint256) {
        return reserves[_reserveHolder].claimedByAddress[currentRound()][_claimant];
    }

    /// @notice Livepeer's ticket hash: keccak256 of the packed fields, auxData last.
    function getTicketHash(Ticket memory _ticket) public pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                _ticket.recipient,
                _ticket.sender,
                _ticket.faceValue,
                _ticket.winProb,
                _ticket.senderNonce,
                _ticket.recipientRandHash,
                _ticket.auxData
            )
        );
    }

    // ---------------------------------------------------------------- internals

    function processDeposit(address _sender, uint256 _amount) internal {
        Sender storage sender = senders[_sender];
        recordFunder(_sender);
        sender.deposit += _amount;
        // The sender (or, by extension, its funder) funding it cancels its unlock.
        if ((msg.sender == _sender || msg.sender == funderOf[_sender]) && sender.withdrawRound > 0) {
            _cancelUnlock(_sender);
        }
        emit DepositFunded(_sender, _amount);
    }

    function processReserve(address _sender, uint256 _amount) internal {
        Sender storage sender = senders[_sender];
        recordFunder(_sender);
        reserves[_sender].funds += _amount;
        emit ReserveFunded(_sender, _amount);
        if ((msg.sender == _sender || msg.sender == funderOf[_sender]) && sender.withdrawRound > 0) {
            _cancelUnlock(_sender);
        }
    }

    /// @dev Records msg.sender as `_sender`'s funder on its first non-zero funding. Known
    /// limit: whoever funds a fresh session key first (for instance by front-running the
    /// wallet's first funding transaction) becomes its funder; a wallet should check
    /// `funderOf` after its first funding and before adding more.
    function recordFunder(address _sender) internal {
        if (funderOf[_sender] == address(0) && msg.value > 0) {
            funderOf[_sender] = msg.sender;
            emit FunderRecorded(_sender, msg.sender);
        }
    }

    function requireFunder(address _sender) internal view {
        require(funderOf[_sender] != address(0) && funderOf[_sender] == msg.sender, "caller is not the sender's funder");
    }

    function _unlock(address _senderAddress) internal {
        Sender storage sender = senders[_senderAddress];
        require(sender.deposit > 0 || reserves[_senderAddress].funds > 0, "sender deposit and reserve are zero");
        require(sender.withdrawRound == 0, "unlock already initiated");
        uint256 round = currentRound();
        sender.withdrawRound = round + unlockPeriod;
        emit Unlock(_senderAddress, round, sender.withdrawRound);
    }

    function _cancelUnlock(address _senderAddress) internal {
        Sender storage sender = senders[_senderAddress];
        require(sender.withdrawRound > 0, "no unlock request in progress");
        sender.withdrawRound = 0;
        emit UnlockCancelled(_senderAddress);
    }

    function _withdraw(address _senderAddress) internal {
        Sender storage sender = senders[_senderAddress];
        uint256 deposit = sender.deposit;
        uint256 reserve = reserves[_senderAddress].funds;
        require(deposit > 0 || reserve > 0, "sender deposit and reserve are zero");
        require(sender.withdrawRound > 0, "no unlock request in progress");
        require(!isLocked(sender), "account is locked");

        sender.deposit = 0;
        reserves[_senderAddress].funds = 0;

        address payee = funderOf[_senderAddress];
        sendValue(payee == address(0) ? _senderAddress : payee, deposit + reserve);
        emit Withdrawal(_senderAddress, deposit, reserve);
    }

    function claimFromReserve(address _reserveHolder, address _claimant, uint256 _amount) internal returns (uint256) {
        uint256 claimable = claimableReserve(_reserveHolder, _claimant);
        uint256 claimAmount = _amount > claimable ? claimable : _amount;
        if (claimAmount > 0) {
            uint256 round = currentRound();
            Reserve storage reserve = reserves[_reserveHolder];
            reserve.claimedForRound[round] += claimAmount;
            reserve.claimedByAddress[round][_claimant] += claimAmount;
            reserve.funds -= claimAmount;
            emit ReserveClaimed(_reserveHolder, _claimant, claimAmount);
        }
        return claimAmount;
    }

    function requireValidWinningTicket(
        Ticket memory _ticket,
        bytes32 _ticketHash,
        bytes memory _sig,
        uint256 _recipientRand
    ) internal view {
        require(_ticket.recipient != address(0), "ticket recipient is null address");
        require(_ticket.sender != address(0), "ticket sender is null address");
        requireValidTicketAuxData(_ticket.auxData);
        require(
            keccak256(abi.encodePacked(_recipientRand)) == _ticket.recipientRandHash,
            "recipientRand does not match recipientRandHash"
        );
        require(!usedTickets[_ticketHash], "ticket is used");
        require(isValidTicketSig(_ticket.sender, _sig, _ticketHash), "invalid signature over ticket hash");
        require(isWinningTicket(_sig, _recipientRand, _ticket.winProb), "ticket did not win");
    }

    function requireValidTicketAuxData(bytes memory _auxData) internal view {
        require(_auxData.length == 64, "invalid length for ticket auxData: must be 64 bytes");
        uint256 creationRound;
        bytes32 creationRoundBlockHash;
        assembly {
            creationRound := mload(add(_auxData, 32))
            creationRoundBlockHash := mload(add(_auxData, 64))
        }
        bytes32 blockHash = blockHashForRound(creationRound);
        require(blockHash != bytes32(0), "ticket creationRound does not have a block hash");
        require(creationRoundBlockHash == blockHash, "ticket creationRoundBlockHash invalid for creationRound");
        require(creationRound + ticketValidityPeriod > currentRound(), "ticket is expired");
    }

    function isValidTicketSig(address _sender, bytes memory _sig, bytes32 _ticketHash) internal pure returns (bool) {
        require(_sig.length == 65, "INVALID_SIGNATURE_LENGTH");
        address signer = ECDSA.recover(MessageHashUtils.toEthSignedMessageHash(_ticketHash), _sig);
        return signer != address(0) && _sender == signer;
    }

    function isWinningTicket(bytes memory _sig, uint256 _recipientRand, uint256 _winProb) internal pure returns (bool) {
        return uint256(keccak256(abi.encodePacked(_sig, _recipientRand))) < _winProb;
    }

    /// @dev A sender is locked unless its unlock period has passed.
    function isLocked(Sender storage _sender) internal view returns (bool) {
        return _sender.withdrawRound == 0 || currentRound() < _sender.withdrawRound;
    }

    function sendValue(address _to, uint256 _amount) internal {
        (bool ok, ) = payable(_to).call{value: _amount}("");
        require(ok, "ETH transfer failed");
    }
}
